/// Slows a device's operations down to a hardware model's pace (the paced clock). Given an
/// operation that started at `startedAt` (`ContinuousClock` system nanoseconds) and has just finished its real
/// work, it returns once the modeled resources the operation crosses would have carried it.
public protocol OperationPacer: Sendable {
    func pace(_ kind: OperationRecord.Kind, bytes: Int, elements: Int, startedAt: UInt64)
}
