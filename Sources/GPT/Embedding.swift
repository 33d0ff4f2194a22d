/// GPT-2's input encoding: the token embedding (a row of wte) plus the position embedding (a
/// row of wpe), per position.
enum Embedding {
    static func forward(
        output: UnsafeMutablePointer<Float>, tokens: UnsafePointer<Int32>, tokenTable: UnsafePointer<Float>,
        positionTable: UnsafePointer<Float>, batch: Int, sequence: Int, channels c: Int
    ) {
        for b in 0..<batch {
            for t in 0..<sequence {
                let position = b &* sequence &+ t
                let y = output + position &* c
                let token = tokenTable + Int(tokens[position]) &* c
                let place = positionTable + t &* c
                var i = 0
                while i < c {
                    y[i] = token[i] + place[i]
                    i &+= 1
                }
            }
        }
    }

    /// Scatters the output gradient into the rows of wte and wpe the forward pass read.
    static func backward(
        tokenTableGradient: UnsafeMutablePointer<Float>, positionTableGradient: UnsafeMutablePointer<Float>,
        outputGradient: UnsafePointer<Float>, tokens: UnsafePointer<Int32>, batch: Int, sequence: Int, channels c: Int
    ) {
        for b in 0..<batch {
            for t in 0..<sequence {
                let position = b &* sequence &+ t
                let dy = outputGradient + position &* c
                let dToken = tokenTableGradient + Int(tokens[position]) &* c
                let dPlace = positionTableGradient + t &* c
                var i = 0
                while i < c {
                    dToken[i] += dy[i]
                    dPlace[i] += dy[i]
                    i &+= 1
                }
            }
        }
    }
}
