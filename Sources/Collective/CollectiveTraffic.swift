/// What one rank moved in one kind of collective: the payload that crosses between ranks, in
/// bytes, as the algorithm-independent count (what must leave this rank, what must reach it), not
/// what MPI's algorithm forwards on the way. Sending to itself is not traffic.
///
/// With equal slices of N bytes in all, a reduce-scatter and an all-gather each send and receive
/// (R − 1)/R · N per rank, the 2(R − 1)/R of ring all-reduce that the figures compare to.
public struct CollectiveTraffic: Sendable, Equatable, Codable {
    public var calls = 0
    public var bytesSent = 0
    public var bytesReceived = 0
    /// The MPI messages this rank sent for them: one per peer and run of at most
    /// `World.maximumCount` elements (a barrier's are MPI's own, not counted).
    public var messagesSent = 0

    public init(calls: Int = 0, bytesSent: Int = 0, bytesReceived: Int = 0, messagesSent: Int = 0) {
        self.calls = calls
        self.bytesSent = bytesSent
        self.bytesReceived = bytesReceived
        self.messagesSent = messagesSent
    }

    mutating func record(sent: Int, received: Int, messages: Int) {
        calls += 1
        bytesSent += sent
        bytesReceived += received
        messagesSent += messages
    }
}
