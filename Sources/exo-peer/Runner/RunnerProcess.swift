import Foundation
import Synchronization

/// A runner child process seen from its node: requests go to its stdin from a serial queue (a write may
/// block while the runner computes), replies come from a reader thread on its stdout, and its exit is
/// reported once, after the last reply.
final class RunnerProcess: Sendable {
    enum Output: Sendable {
        case reply(Envelope<RunnerReply>)
        case exited(status: Int32, reason: String)
    }

    let pid: Int32
    let outputs: AsyncStream<Output>
    private let process: Process
    private let input: FileHandle
    private let writes = DispatchQueue(label: "exo-peer.runner-writes")

    private init(process: Process, input: FileHandle, outputs: AsyncStream<Output>) {
        self.process = process
        self.pid = process.processIdentifier
        self.input = input
        self.outputs = outputs
    }

    /// Starts `executable runner --threads N`; its stderr goes to the node's.
    static func launch(executable: String, threads: Int) throws -> RunnerProcess {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["runner", "--threads", String(threads)]
        let stdin = Pipe(), stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = FileHandle.standardError
        let (outputs, continuation) = AsyncStream<Output>.makeStream()
        // The exit is reported after the reader has seen the end of stdout, so no reply is lost behind it.
        let readerDone = DispatchSemaphore(value: 0)
        process.terminationHandler = { finished in
            // Bounded: should another process hold the pipe open, the exit is reported anyway.
            _ = readerDone.wait(timeout: .now() + 2)
            let reason = finished.terminationReason == .uncaughtSignal
                ? "killed by signal \(finished.terminationStatus)"
                : "exited with status \(finished.terminationStatus)"
            continuation.yield(.exited(status: finished.terminationStatus, reason: reason))
            continuation.finish()
        }
        try process.run()
        let fd = stdout.fileHandleForReading.fileDescriptor
        let reader = Thread {
            while true {
                do {
                    let bytes = try PipeFraming.read(from: fd)
                    continuation.yield(.reply(try Envelope<RunnerReply>.decode(bytes)))
                } catch {
                    break
                }
            }
            readerDone.signal()
        }
        reader.name = "exo-peer.runner-reader"
        reader.start()
        return RunnerProcess(process: process, input: stdin.fileHandleForWriting, outputs: outputs)
    }

    /// Queues `request`; a runner that died has its exit reported through `outputs`, so a failed write is dropped.
    func send(_ request: RunnerRequest, floats: [Float] = []) {
        let envelope = Envelope(request, floats: floats)
        let fd = input.fileDescriptor
        writes.async {
            guard let bytes = try? envelope.encoded() else { return }
            try? PipeFraming.write(bytes, to: fd)
        }
    }

    func kill() {
        if process.isRunning { Foundation.kill(pid, SIGKILL) }
    }

    /// The path of the running executable, so the node starts runners of its own build.
    static var ownExecutable: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }
}
