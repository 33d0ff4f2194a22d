import DeviceProtocol
import Optim
import Testing

/// A step's update segments (parameter groups) cross the wire as they were sent, and the decoder
/// refuses segments that overlap, run backwards, are empty, too many, or of another rule,
/// naming the field.
struct UpdateSegmentWireTests {
    static let config = OptimizerConfig.adamw(AdamWHyperparameters(weightDecay: 0.1), .torch)
    static let update = config.prepare(step: 4, learningRate: 1e-3, combinedUnscale: 0.5)

    static func step(_ segments: [UpdateSegment]) -> Request {
        .step(StepCommand(step: 4, update: update, segments: segments, skip: false, subgroups: [0, 1], payloadBytes: [64, 64]))
    }

    @Test func segmentsRoundTrip() throws {
        let request = Self.step([
            UpdateSegment(elements: 0..<10, update: Self.config.prepare(step: 4, learningRate: 5e-3, combinedUnscale: 0.5)),
            UpdateSegment(elements: 10..<4096, update: Self.config.withWeightDecay(0).prepare(step: 4, learningRate: 1e-4, combinedUnscale: 0.5)),
        ])
        #expect(try Request.decode(request.frame(requestID: 9)) == request)
        #expect(try Request.decode(Self.step([]).frame(requestID: 9)) == Self.step([]))
    }

    @Test func overlappingSegmentsAreRefusedByField() {
        let overlapping = Self.step([UpdateSegment(elements: 0..<10, update: Self.update), UpdateSegment(elements: 5..<20, update: Self.update)])
        #expect(throws: ProtocolError.invalidField(message: "step", field: "segment 1 start", found: "5",
                                                   expected: "10...\(DeviceConfiguration.maximumElements - 1)")) {
            _ = try Request.decode(overlapping.frame(requestID: 1))
        }
    }

    @Test func aSegmentOfAnotherRuleIsRefused() {
        let sgd = OptimizerConfig.sgd(SGDHyperparameters(), .torch).prepare(step: 4, learningRate: 0.1, combinedUnscale: 1)
        let mixed = Self.step([UpdateSegment(elements: 0..<10, update: sgd)])
        #expect(throws: ProtocolError.invalidField(message: "step", field: "segment 0 update rule", found: "3", expected: "the step's rule 5")) {
            _ = try Request.decode(mixed.frame(requestID: 1))
        }
    }

    @Test func anEmptySegmentIsRefused() {
        let empty = Self.step([UpdateSegment(elements: 3..<3, update: Self.update)])
        #expect(throws: ProtocolError.invalidField(message: "step", field: "segment 0 elements", found: "0",
                                                   expected: "1...\(DeviceConfiguration.maximumElements - 3)")) {
            _ = try Request.decode(empty.frame(requestID: 1))
        }
    }
}
