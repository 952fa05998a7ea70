/// The shared xenstore page (struct xenstore_domain_interface, io/xs_wire.h) from the
/// server's side: the guest produces requests into `req` and consumes replies from `rsp`.
///
/// Layout: req[1024] @0, rsp[1024] @1024, req_cons @2048, req_prod @2052, rsp_cons @2056,
/// rsp_prod @2060, server_features @2064, connection @2068, error @2072, evtchn_port @2076.
/// Indices are free-running u32s, masked by 1023 to address the ring.

/// Access to one xenstore page. The hypervisor implements it over the guest's page
/// (volatile 32-bit index accesses, `dmb ish` for `barrier()`); tests use `XenStoreBufferPage`.
/// Offsets passed in are always inside the page (0..<4096) and 4-aligned for indices.
public protocol XenStoreRingPage {
    func loadIndex(at offset: Int) -> UInt32
    mutating func storeIndex(_ value: UInt32, at offset: Int)
    func loadByte(at offset: Int) -> UInt8
    mutating func storeByte(_ value: UInt8, at offset: Int)
    /// Full memory barrier between index and data accesses (xen_mb()).
    func barrier()
}

public enum XenStoreRingLayout {
    public static let ringSize = 1024
    public static let request = 0
    public static let response = 1024
    public static let requestConsumer = 2048
    public static let requestProducer = 2052
    public static let responseConsumer = 2056
    public static let responseProducer = 2060
    public static let serverFeatures = 2064
    public static let connection = 2068
    public static let error = 2072
    public static let eventChannelPort = 2076
    public static let pageSize = 4096

    /// XENSTORE_SERVER_FEATURE_* bits.
    public static let featureReconnection: UInt32 = 1
    public static let featureError: UInt32 = 2
    /// XENSTORE_CONNECTED / XENSTORE_RECONNECT.
    public static let connected: UInt32 = 0
    public static let reconnect: UInt32 = 1
}

/// Why a connection was given up (the value written to the page's `error` field).
public enum XenStoreRingFailure: UInt32, Equatable, Sendable {
    /// XENSTORE_ERROR_RINGIDX: producer/consumer indices more than a ring apart.
    case ringIndex = 2
    /// XENSTORE_ERROR_PROTO: a header announcing more than XENSTORE_PAYLOAD_MAX bytes.
    case protocolViolation = 3
}

/// A page held in host memory, for tests and host-side simulation.
public struct XenStoreBufferPage: XenStoreRingPage, Sendable {
    public var bytes: [UInt8]

    public init() { bytes = [UInt8](repeating: 0, count: XenStoreRingLayout.pageSize) }

    public func loadIndex(at offset: Int) -> UInt32 { xsLE32(bytes, offset) }
    public mutating func storeIndex(_ value: UInt32, at offset: Int) {
        bytes[offset] = UInt8(truncatingIfNeeded: value)
        bytes[offset + 1] = UInt8(truncatingIfNeeded: value >> 8)
        bytes[offset + 2] = UInt8(truncatingIfNeeded: value >> 16)
        bytes[offset + 3] = UInt8(truncatingIfNeeded: value >> 24)
    }
    public func loadByte(at offset: Int) -> UInt8 { bytes[offset] }
    public mutating func storeByte(_ value: UInt8, at offset: Int) { bytes[offset] = value }
    public func barrier() {}
}

/// Server-side state of one xenstore ring: the partly received request, the replies and
/// events not yet written, and whether the guest broke the protocol. It never trusts the
/// page: indices are read once per step, checked (prod - cons <= 1024) and every copy is
/// bounded by them; a bad index or an oversized header marks the connection broken and the
/// ring is left alone from then on.
public struct XenStoreRing: Sendable {
    /// The request being received, header and payload, allocated at its full size once
    /// the header is in; `received` bytes of it are filled.
    var message: [UInt8] = []
    var received = 0
    var payloadLength = -1          // -1 while the header is incomplete
    var output: [UInt8] = []
    var outputHead = 0
    public private(set) var failure: XenStoreRingFailure?
    /// Running totals, for callers deciding whether to notify.
    public private(set) var consumedBytes: UInt64 = 0
    public private(set) var producedBytes: UInt64 = 0

    public init() {}

    public var isBroken: Bool { failure != nil }
    /// Bytes queued for the response ring and not written yet.
    public var pendingOutputBytes: Int { output.count - outputHead }

    /// Prepares a fresh page: indices 0, connected, and the "error field" feature advertised.
    public static func initialize<P: XenStoreRingPage>(_ page: inout P, eventChannel: UInt32 = 0) {
        for off in stride(from: 0, to: XenStoreRingLayout.pageSize, by: 4) { page.storeIndex(0, at: off) }
        page.storeIndex(XenStoreRingLayout.featureError, at: XenStoreRingLayout.serverFeatures)
        page.storeIndex(XenStoreRingLayout.connected, at: XenStoreRingLayout.connection)
        page.storeIndex(eventChannel, at: XenStoreRingLayout.eventChannelPort)
        page.barrier()
    }

    mutating func fail<P: XenStoreRingPage>(_ why: XenStoreRingFailure, _ page: inout P) {
        failure = why
        message = []; received = 0; payloadLength = -1
        output = []; outputHead = 0
        page.storeIndex(why.rawValue, at: XenStoreRingLayout.error)
        page.barrier()
    }

    /// True when the guest has request bytes we have not consumed (and the indices are sane).
    public func hasPendingInput<P: XenStoreRingPage>(_ page: P) -> Bool {
        guard failure == nil else { return false }
        let cons = page.loadIndex(at: XenStoreRingLayout.requestConsumer)
        let prod = page.loadIndex(at: XenStoreRingLayout.requestProducer)
        let avail = prod &- cons
        return avail != 0 && avail <= UInt32(XenStoreRingLayout.ringSize)
    }

    /// Copies request bytes out of the ring and returns the messages completed (header +
    /// payload, at most `maxMessages`). Partial messages are kept for the next call.
    /// Consumes at most what the guest had produced plus one ring's worth per message, so a
    /// guest racing its producer index cannot keep the caller here.
    public mutating func consumeRequests<P: XenStoreRingPage>(_ page: inout P, maxMessages: Int = Int.max) -> [[UInt8]] {
        var messages = [[UInt8]]()
        guard failure == nil, maxMessages > 0 else { return messages }
        let ringSize = XenStoreRingLayout.ringSize
        // Budget: enough for maxMessages of maximum size, bounded by a handful of rings.
        let maxMessageBytes = XenStoreWire.headerSize + XenStoreWire.payloadMax
        var budget = maxMessages >= 16 ? 16 * maxMessageBytes : maxMessages * maxMessageBytes
        while budget > 0 && messages.count < maxMessages {
            let cons = page.loadIndex(at: XenStoreRingLayout.requestConsumer)
            let prod = page.loadIndex(at: XenStoreRingLayout.requestProducer)
            page.barrier()
            let avail = prod &- cons
            if avail > UInt32(ringSize) { fail(.ringIndex, &page); return messages }
            if avail == 0 { break }
            if message.isEmpty { message = [UInt8](repeating: 0, count: XenStoreWire.headerSize) }
            let want = message.count &- received
            var n = Int(avail)
            if n > want { n = want }
            if n > budget { n = budget }
            // Straight into the message's storage: a load and a store per byte (these
            // copies are most of what a large request costs).
            let start = received
            let first = Int(cons & UInt32(ringSize &- 1))
            message.withUnsafeMutableBufferPointer { buf in
                var i = 0
                var off = first
                while i < n {
                    buf[start &+ i] = page.loadByte(at: XenStoreRingLayout.request &+ off)
                    off = (off &+ 1) & (ringSize &- 1)
                    i &+= 1
                }
            }
            received &+= n
            page.barrier()
            page.storeIndex(cons &+ UInt32(n), at: XenStoreRingLayout.requestConsumer)
            consumedBytes &+= UInt64(n)
            budget -= n
            if payloadLength < 0 && received == XenStoreWire.headerSize {
                let len = xsLE32(message, 12)
                if len > UInt32(XenStoreWire.payloadMax) { fail(.protocolViolation, &page); return messages }
                payloadLength = Int(len)
                if payloadLength > 0 {
                    var m = [UInt8](repeating: 0, count: XenStoreWire.headerSize &+ payloadLength)
                    m.withUnsafeMutableBufferPointer { dst in
                        message.withUnsafeBufferPointer { src in
                            var i = 0
                            while i < XenStoreWire.headerSize { dst[i] = src[i]; i &+= 1 }
                        }
                    }
                    message = m
                }
            }
            if payloadLength >= 0 && received == message.count {
                messages.append(message)
                message = []; received = 0; payloadLength = -1
            }
        }
        return messages
    }

    /// Queues a message for the response ring without writing anything.
    public mutating func enqueue(_ message: [UInt8]) {
        guard failure == nil else { return }
        output.append(contentsOf: message)
    }

    /// Writes as much queued output as the response ring has room for; returns bytes written.
    public mutating func flush<P: XenStoreRingPage>(_ page: inout P) -> Int {
        guard failure == nil, outputHead < output.count else { return 0 }
        let ringSize = XenStoreRingLayout.ringSize
        let cons = page.loadIndex(at: XenStoreRingLayout.responseConsumer)
        let prod = page.loadIndex(at: XenStoreRingLayout.responseProducer)
        page.barrier()
        let used = prod &- cons
        if used > UInt32(ringSize) { fail(.ringIndex, &page); return 0 }
        var n = ringSize - Int(used)
        if n > output.count - outputHead { n = output.count - outputHead }
        let head = outputHead
        let first = Int(prod & UInt32(ringSize &- 1))
        output.withUnsafeBufferPointer { buf in
            var i = 0
            var off = first
            while i < n {
                page.storeByte(buf[head &+ i], at: XenStoreRingLayout.response &+ off)
                off = (off &+ 1) & (ringSize &- 1)
                i &+= 1
            }
        }
        page.barrier()
        page.storeIndex(prod &+ UInt32(n), at: XenStoreRingLayout.responseProducer)
        outputHead += n
        producedBytes &+= UInt64(n)
        if outputHead == output.count {
            output.removeAll(keepingCapacity: true); outputHead = 0
        } else if outputHead >= 4096 {
            output.removeFirst(outputHead); outputHead = 0
        }
        return n
    }

    /// Queues `messages` and writes what fits; the rest stays queued for the next flush.
    @discardableResult
    public mutating func produceResponses<P: XenStoreRingPage>(_ page: inout P, _ messages: [[UInt8]]) -> Int {
        for m in messages { enqueue(m) }
        return flush(&page)
    }
}
