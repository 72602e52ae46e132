import NIOCore
import Testing
@testable import Mesh

@Suite struct OutboundQueueTests {
    private func frame(_ kind: FrameKind, _ tag: UInt8) -> Frame { Frame(kind: kind, bytes: [tag]) }

    @Test func urgentFramesOvertakeQueuedBulkFramesAndEachLaneKeepsItsOrder() async {
        let queue = OutboundQueue(urgentLimit: 8, bulkLimit: 2)
        #expect(queue.enqueue(frame(.transfer, 1), bulk: true) == .enqueued)
        #expect(queue.enqueue(frame(.transfer, 2), bulk: true) == .enqueued)
        #expect(queue.enqueue(frame(.transfer, 3), bulk: true) == .dropped, "the bulk lane is full")
        #expect(queue.enqueue(frame(.gossip, 4)) == .enqueued)
        #expect(queue.enqueue(frame(.tensor, 5)) == .enqueued)
        queue.finish()
        #expect(queue.enqueue(frame(.gossip, 6)) == .terminated)
        var order: [UInt8] = []
        while let next = await queue.next() { order.append(next.bytes[0]) }
        #expect(order == [4, 5, 1, 2], "urgent first, then bulk, and what was queued before finish is still written")
    }

    @Test func aWaitingWriterGetsTheNextFrameAndFinishWakesIt() async {
        let queue = OutboundQueue(urgentLimit: 1, bulkLimit: 1)
        async let first = queue.next()
        try? await Task.sleep(for: .milliseconds(20))
        queue.enqueue(frame(.transfer, 9), bulk: true)
        #expect(await first?.bytes == [9])
        async let second = queue.next()
        try? await Task.sleep(for: .milliseconds(20))
        queue.finish()
        #expect(await second == nil)
    }
}

@Suite struct OutboundQueueCancellationTests {
    @Test func aCancelledWriterStopsWaiting() async {
        let queue = OutboundQueue(urgentLimit: 1, bulkLimit: 1)
        let writer = Task { await queue.next() }
        try? await Task.sleep(for: .milliseconds(20))
        writer.cancel()
        #expect(await writer.value == nil)
    }
}
