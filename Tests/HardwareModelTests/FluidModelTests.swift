import HardwareModel
import Testing

/// The fluid model on cases small enough to solve by hand. Capacities and amounts are chosen so
/// that every hand-computed time is a short binary fraction, so the expected times are exact.
@Suite struct FluidModelTests {
    @Test func aLoneFlowRunsAtTheLinkCapacity() {
        var graph = OperationGraph()
        let link = graph.addResource("link", capacity: 8)
        let a = graph.addOperation(amount: 8, path: [link])
        #expect(graph.simulate()[a] == OperationTiming(start: 0, end: 1))
    }

    @Test func twoFlowsOnOneLinkGetHalfEach() {
        var graph = OperationGraph()
        let link = graph.addResource("link", capacity: 8)
        let a = graph.addOperation(amount: 8, path: [link])
        let b = graph.addOperation(amount: 8, path: [link])
        let result = graph.simulate()
        // 4 units/s each: 8 units take 2 s, twice the time alone.
        #expect(result[a].end == 2 && result[b].end == 2)
        #expect(result[link] == ResourceUsage(busySeconds: 2, carried: 16))
    }

    @Test func aFlowThatEndsRebalancesTheOthers() {
        var graph = OperationGraph()
        let link = graph.addResource("link", capacity: 12)
        let a = graph.addOperation(amount: 4, path: [link])
        let b = graph.addOperation(amount: 10, path: [link])
        let c = graph.addOperation(amount: 16, path: [link])
        let result = graph.simulate()
        // Three at 4/s: a ends at 1 (b has 6 left, c 12). Two at 6/s: b ends at 2 (c has 6 left).
        // c alone at 12/s: ends at 2.5.
        #expect(result[a].end == 1)
        #expect(result[b].end == 2)
        #expect(result[c].end == 2.5)
        #expect(result.rebalances == 4)  // at 0, 1, 2 and 2.5
        #expect(result.flowEvents == 6)
    }

    @Test func aFlowLimitedElsewhereLeavesItsShareToOthers() {
        var graph = OperationGraph()
        let link = graph.addResource("link", capacity: 8)
        let slowDisk = graph.addResource("slow disk", capacity: 2)
        let limited = graph.addOperation(amount: 4, path: [slowDisk, link])
        let b = graph.addOperation(amount: 6, path: [link])
        let c = graph.addOperation(amount: 12, path: [link])
        let result = graph.simulate()
        // The disk holds `limited` to 2/s; b and c split the 6/s it leaves on the link, 3/s each,
        // not 8/3. At 2 both limited and b are done; c has 6 left at 8/s.
        #expect(result[limited].end == 2)
        #expect(result[b].end == 2)
        #expect(result[c].end == 2.75)
    }

    @Test func asymmetricReadAndWriteAreSeparateResources() {
        var graph = OperationGraph()
        let read = graph.addResource("ssd read", capacity: 4)
        let write = graph.addResource("ssd write", capacity: 2)
        let reader = graph.addOperation(amount: 6, path: [read])
        let writer = graph.addOperation(amount: 2, path: [write])
        let copy = graph.addOperation(amount: 4, path: [read, write])
        let result = graph.simulate()
        // Write is the bottleneck: writer and copy get 1/s each; the reader gets the 3/s of read
        // the copy leaves. At 2 the reader and writer are done; the copy's last 2 units go at the
        // write side's full 2/s.
        #expect(result[reader].end == 2)
        #expect(result[writer].end == 2)
        #expect(result[copy].end == 3)
        #expect(result[read] == ResourceUsage(busySeconds: 3, carried: 10))
        #expect(result[write] == ResourceUsage(busySeconds: 3, carried: 6))
    }

    /// One flash serving a read and a write: capacity 1 s/s, a read costs 1/4 s per unit and a
    /// write 1/2 (reads twice as fast). Equal rates r with r/4 + r/2 = 1 give r = 4/3: the write
    /// of 2 ends at 1.5 s, having taken 0.75 of the flash; the read then has 4 − 2 = 2 left, alone
    /// at 4/s: it ends at 2 s. Total flash time 4/4 + 2/2 = 2 s, as if done one after the other.
    @Test func oneFlashSharedByAReadAndAWrite() {
        var graph = OperationGraph()
        let flash = graph.addResource("flash", capacity: 1)
        let read = graph.addOperation(amount: 4, path: [flash], costs: [flash: 0.25])
        let write = graph.addOperation(amount: 2, path: [flash], costs: [flash: 0.5])
        let result = graph.simulate()
        #expect(result[write].end == 1.5)
        #expect(result[read].end == 2)
        #expect(result[flash] == ResourceUsage(busySeconds: 2, carried: 2))
    }

    /// A cost on one resource of a longer path: the link carries the bytes 1:1, the flash
    /// charges 1/2 per byte; alone at the flash's 2 bytes/s (the link allows 8).
    @Test func aCostOnOneResourceOfAPath() {
        var graph = OperationGraph()
        let link = graph.addResource("link", capacity: 8)
        let flash = graph.addResource("flash", capacity: 1)
        let a = graph.addOperation(amount: 4, path: [link, flash], costs: [flash: 0.5])
        let b = graph.addOperation(amount: 12, path: [link])
        let result = graph.simulate()
        // a is held to 2/s by the flash; b takes the link's other 6/s and ends at 2; a ends at 2.
        #expect(result[a].end == 2 && result[b].end == 2)
    }

    @Test func threeResourcePathsAcrossTwoDevices() {
        var graph = OperationGraph()
        let shared = graph.addResource("shared link", capacity: 12)
        let read0 = graph.addResource("device 0 ssd read", capacity: 2)
        let internal0 = graph.addResource("device 0 link", capacity: 4)
        let read1 = graph.addResource("device 1 ssd read", capacity: 16)
        let internal1 = graph.addResource("device 1 link", capacity: 4)
        let upload0 = graph.addOperation(amount: 4, path: [read0, internal0, shared])
        let upload1 = graph.addOperation(amount: 8, path: [read1, internal1, shared])
        let hostOnly = graph.addOperation(amount: 18, path: [shared])
        let result = graph.simulate()
        // Device 0 is held to 2/s by its SSD, device 1 to 4/s by its link; the host-only flow
        // gets the remaining 6/s of the shared link. At 2 both uploads are done; the host-only
        // flow has 6 left at 12/s.
        #expect(result[upload0].end == 2)
        #expect(result[upload1].end == 2)
        #expect(result[hostOnly].end == 2.5)
    }

    @Test func latencyDelaysTheStartOfTheFlow() {
        var graph = OperationGraph()
        let link = graph.addResource("link", capacity: 8)
        let delayed = graph.addOperation(amount: 8, path: [link], latency: 0.5)
        let immediate = graph.addOperation(amount: 8, path: [link])
        let result = graph.simulate()
        // immediate runs alone at 8/s for 0.5 s (4 left), then both at 4/s: immediate ends at
        // 1.5; delayed, 4 left then, ends at 2.
        #expect(result[delayed] == OperationTiming(start: 0, end: 2))
        #expect(result[immediate].end == 1.5)
        #expect(result[link].busySeconds == 2)
    }

    @Test func operationsStartWhenAllTheirPredecessorsEnd() {
        var graph = OperationGraph()
        let link = graph.addResource("link", capacity: 8)
        let a = graph.addOperation(amount: 8, path: [link])
        let b = graph.addOperation(amount: 8, path: [link], after: [a])
        let pause = graph.addOperation(amount: 0, path: [], latency: 0.25, after: [a])
        let barrier = graph.addOperation(amount: 0, path: [], after: [b, pause])
        let last = graph.addOperation(amount: 16, path: [link], after: [barrier])
        let result = graph.simulate()
        #expect(result[a] == OperationTiming(start: 0, end: 1))
        #expect(result[b] == OperationTiming(start: 1, end: 2))
        #expect(result[pause] == OperationTiming(start: 1, end: 1.25))
        #expect(result[barrier] == OperationTiming(start: 2, end: 2))
        #expect(result[last] == OperationTiming(start: 2, end: 4))
        #expect(result.makespan == 4)
        #expect(result[link] == ResourceUsage(busySeconds: 4, carried: 32))
    }

    @Test func computeOccupiesAnEngine() {
        var graph = OperationGraph()
        let gpu = graph.addResource("gpu", capacity: 2e12)
        let forward0 = graph.addOperation(amount: 2e12, path: [gpu])
        let forward1 = graph.addOperation(amount: 2e12, path: [gpu], after: [forward0])
        let concurrent0 = graph.addOperation(amount: 2e12, path: [gpu], after: [forward1])
        let concurrent1 = graph.addOperation(amount: 2e12, path: [gpu], after: [forward1])
        let result = graph.simulate()
        // Chained work runs back to back; unordered work shares the engine and both finish
        // when the pair would have finished in sequence.
        #expect(result[forward0].end == 1 && result[forward1].end == 2)
        #expect(result[concurrent0].end == 4 && result[concurrent1].end == 4)
    }

    @Test func idleGapsAreNotBusyTime() {
        var graph = OperationGraph()
        let link = graph.addResource("link", capacity: 8)
        let unused = graph.addResource("unused", capacity: 1)
        let a = graph.addOperation(amount: 8, path: [link])
        graph.addOperation(amount: 8, path: [link], latency: 1, after: [a])
        let result = graph.simulate()
        #expect(result[link] == ResourceUsage(busySeconds: 2, carried: 16))
        #expect(result[unused] == ResourceUsage(busySeconds: 0, carried: 0))
        #expect(result.makespan == 3)
    }

    @Test func anEmptyGraphTakesNoTime() {
        let result = OperationGraph().simulate()
        #expect(result.makespan == 0 && result.flowEvents == 0 && result.operations.isEmpty)
    }
}
