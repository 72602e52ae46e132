import ArgumentParser
import Foundation

/// The child process that runs one rank of an instance (started by its node, never by hand): requests
/// on stdin, replies on stdout, both framed by `PipeFraming`; logs on stderr. It ends when told to shut
/// down or when its node goes away (stdin closes).
struct RunnerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runner",
        abstract: "Run one rank of an instance for its node (started by the node; speaks a framed protocol on stdin/stdout).",
        shouldDisplay: false
    )

    @Option(help: "Threads for the model's kernels.")
    var threads: Int = 1

    func run() throws {
        // A write to a node that died must be an error, not a fatal signal.
        signal(SIGPIPE, SIG_IGN)
        let core = RunnerCore(threads: threads)
        while !core.isFinished {
            let bytes: [UInt8]
            do {
                bytes = try PipeFraming.read(from: STDIN_FILENO)
            } catch .closed {
                return
            } catch {
                Self.log("runner: reading from the node failed: \(error)")
                throw ExitCode(1)
            }
            let reply: Envelope<RunnerReply>?
            do {
                let request = try Envelope<RunnerRequest>.decode(bytes)
                reply = core.handle(request.header, floats: request.floats)
            } catch {
                // The node and the runner are one build; a message we cannot read means the stream is broken.
                Self.log("runner: dropped a message from the node: \(error)")
                continue
            }
            guard let reply else { continue }
            do {
                try PipeFraming.write(reply.encoded(), to: STDOUT_FILENO)
            } catch {
                Self.log("runner: writing to the node failed: \(error)")
                throw ExitCode(1)
            }
        }
    }

    static func log(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}
