import NIOCore

/// Closes a connection that has sent nothing for the idle timeout (paired with `IdleStateHandler`).
/// Peers ping each other more often than that, so only a vanished peer (power loss, cable pulled,
/// half-open TCP) trips it, and its link is dropped instead of blocking a fresh one.
final class CloseOnReadIdle: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .read {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}
