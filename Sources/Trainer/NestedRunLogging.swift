import Logging

extension Logger {
    /// The log of a training run inside a larger measurement (the soak's fault-free reference
    /// run, the clock agreement's runs): their start-up lines would repeat for every run and
    /// are not news, so below debug only notices and worse get through; at debug and trace a
    /// person is looking closely, and gets everything.
    var forNestedRun: Logger {
        var nested = self
        if nested.logLevel > .debug { nested.logLevel = max(nested.logLevel, .notice) }
        return nested
    }
}
