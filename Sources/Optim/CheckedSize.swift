/// Sizes worked out from dimensions that came from outside (a checkpoint header, an `--init`
/// spec, a trace, a flag): a product of such dimensions can overflow `Int`, which traps, or be
/// absurdly large, which exhausts memory later. Both the model files and the planner count with
/// this before they allocate or plan anything.
public enum CheckedSize {
    /// The sum of the products `terms`, or nil when a product or the sum overflows or exceeds
    /// `limit`. Factors must not be negative, so checking every partial result is enough.
    public static func sumOfProducts(_ terms: [[Int]], limit: Int) -> Int? {
        var total = 0
        for factors in terms {
            var product = 1
            for factor in factors {
                let (next, overflow) = product.multipliedReportingOverflow(by: factor)
                guard !overflow, next <= limit else { return nil }
                product = next
            }
            let (next, overflow) = total.addingReportingOverflow(product)
            guard !overflow, next <= limit else { return nil }
            total = next
        }
        return total
    }
}
