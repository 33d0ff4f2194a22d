/// What a device failure in a step does (`--on-device-failure abort|retry` with `--max-retries N`):
/// stop, or recover the device, roll the fleet back to the last step all devices committed and
/// run the step again, at most `maxRetries` times per step.
public enum DeviceFailurePolicy: Sendable, Equatable {
    case abort
    case retry(maxRetries: Int)

    /// The policy by the name a command line chooses it with; retry's limit comes separately.
    public enum Kind: String, Sendable, CaseIterable {
        case abort
        case retry
    }
}
