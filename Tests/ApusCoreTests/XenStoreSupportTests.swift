import Testing
@testable import ApusCore

// Helpers shared by the XenStore*Tests files. Messages are built by hand here (not with
// XenStoreWire.message) so the tests check the byte layout independently.

func xb(_ s: String) -> [UInt8] { Array(s.utf8) }

/// Each part followed by a NUL.
func xz(_ parts: String...) -> [UInt8] {
    var out = [UInt8]()
    for p in parts { out.append(contentsOf: p.utf8); out.append(0) }
    return out
}

func xsLE32Bytes(_ v: UInt32) -> [UInt8] {
    [UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF), UInt8((v >> 16) & 0xFF), UInt8(v >> 24)]
}

/// A raw xs_wire message: u32 type, req_id, tx_id, len (little-endian), then payload.
func xsMsg(_ type: UInt32, _ payload: [UInt8], req: UInt32 = 0, tx: UInt32 = 0) -> [UInt8] {
    xsLE32Bytes(type) + xsLE32Bytes(req) + xsLE32Bytes(tx) + xsLE32Bytes(UInt32(payload.count)) + payload
}

enum XS {
    static let directory: UInt32 = 1, read: UInt32 = 2, getPerms: UInt32 = 3, watch: UInt32 = 4
    static let unwatch: UInt32 = 5, txStart: UInt32 = 6, txEnd: UInt32 = 7, introduce: UInt32 = 8
    static let release: UInt32 = 9, getDomainPath: UInt32 = 10, write: UInt32 = 11, mkdir: UInt32 = 12
    static let rm: UInt32 = 13, setPerms: UInt32 = 14, watchEvent: UInt32 = 15, error: UInt32 = 16
    static let isIntroduced: UInt32 = 17, resume: UInt32 = 18, setTarget: UInt32 = 19
    static let resetWatches: UInt32 = 21, directoryPart: UInt32 = 22
}

struct XSReply: Equatable, CustomStringConvertible {
    var type: UInt32, req: UInt32, tx: UInt32
    var payload: [UInt8]

    init?(_ m: [UInt8]) {
        guard m.count >= 16 else { return nil }
        func u(_ o: Int) -> UInt32 { UInt32(m[o]) | UInt32(m[o + 1]) << 8 | UInt32(m[o + 2]) << 16 | UInt32(m[o + 3]) << 24 }
        type = u(0); req = u(4); tx = u(8)
        guard Int(u(12)) == m.count - 16 else { return nil }
        payload = Array(m[16...])
    }

    var isError: Bool { type == XS.error }
    /// Error name without NUL, or nil.
    var errorName: String? { isError ? String(decoding: payload.dropLast(), as: UTF8.self) : nil }
    var text: String { String(decoding: payload, as: UTF8.self) }
    /// NUL-terminated strings of the payload.
    var strings: [String] {
        var out = [String](), cur = [UInt8]()
        for c in payload { if c == 0 { out.append(String(decoding: cur, as: UTF8.self)); cur = [] } else { cur.append(c) } }
        return out
    }
    var description: String { "type \(type) req \(req) tx \(tx) payload \(payload.map { $0 == 0 ? "\\0" : String(UnicodeScalar($0)) }.joined())" }
}

extension XenStore {
    /// Sends one request and returns its (single) reply.
    func req(_ type: UInt32, _ payload: [UInt8], from domid: UInt16, req: UInt32 = 1, tx: UInt32 = 0) -> XSReply {
        let replies = handle(xsMsg(type, payload, req: req, tx: tx), from: domid)
        precondition(replies.count == 1)
        return XSReply(replies[0])!
    }

    func readValue(_ path: String, from domid: UInt16, tx: UInt32 = 0) -> XSReply {
        req(XS.read, xz(path), from: domid, tx: tx)
    }

    func writeValue(_ path: String, _ value: String, from domid: UInt16, tx: UInt32 = 0) -> XSReply {
        req(XS.write, xz(path) + xb(value), from: domid, tx: tx)
    }

    /// Watch events queued for `domid` as (path, token).
    func events(for domid: UInt16) -> [(String, String)] {
        pendingWatchEvents(for: domid).map { m in
            let r = XSReply(m)!
            precondition(r.type == XS.watchEvent && r.req == 0 && r.tx == 0)
            let s = r.strings
            return (s[0], s[1])
        }
    }

    /// A store with domains 1 ("alpha") and 2 ("beta") introduced.
    static func twoDomains(limits: XenStoreLimits = XenStoreLimits()) -> XenStore {
        let s = XenStore(limits: limits)
        s.introduce(domid: 1, name: xb("alpha"))
        s.introduce(domid: 2, name: xb("beta"))
        _ = s.pendingWatchEvents(for: 0)
        return s
    }
}

let xsOK = xz("OK")

/// Guest side of a ring page, for the ring tests.
struct XSGuestRing {
    var page = XenStoreBufferPage()

    init() { XenStoreRing.initialize(&page) }

    func index(_ off: Int) -> UInt32 { page.loadIndex(at: off) }
    mutating func setIndex(_ off: Int, _ v: UInt32) { page.storeIndex(v, at: off) }

    /// Writes bytes at req_prod (no space check: tests stay within the ring).
    mutating func send(_ bytes: [UInt8]) {
        var prod = index(XenStoreRingLayout.requestProducer)
        for b in bytes {
            page.storeByte(b, at: Int(prod & 1023))
            prod &+= 1
        }
        setIndex(XenStoreRingLayout.requestProducer, prod)
    }

    /// Takes every byte between rsp_cons and rsp_prod.
    mutating func receive() -> [UInt8] {
        var cons = index(XenStoreRingLayout.responseConsumer)
        let prod = index(XenStoreRingLayout.responseProducer)
        var out = [UInt8]()
        guard prod &- cons <= 1024 else {        // garbage indices (random-state tests)
            setIndex(XenStoreRingLayout.responseConsumer, prod)
            return out
        }
        while cons != prod {
            out.append(page.loadByte(at: 1024 + Int(cons & 1023)))
            cons &+= 1
        }
        setIndex(XenStoreRingLayout.responseConsumer, cons)
        return out
    }
}

/// Splits a byte stream into xs_wire messages.
func xsSplitMessages(_ bytes: [UInt8]) -> [XSReply] {
    var out = [XSReply](), i = 0
    while i + 16 <= bytes.count {
        let len = Int(UInt32(bytes[i + 12]) | UInt32(bytes[i + 13]) << 8 | UInt32(bytes[i + 14]) << 16 | UInt32(bytes[i + 15]) << 24)
        guard i + 16 + len <= bytes.count else { break }
        out.append(XSReply(Array(bytes[i..<(i + 16 + len)]))!)
        i += 16 + len
    }
    return out
}

@Suite struct XenStoreSupportTests {
    @Test func helpersBuildLittleEndianHeaders() {
        #expect(xsMsg(2, xz("a"), req: 0x01020304, tx: 5) == [2, 0, 0, 0, 4, 3, 2, 1, 5, 0, 0, 0, 2, 0, 0, 0, 0x61, 0])
        #expect(XenStoreWire.message(.read, requestID: 0x01020304, transactionID: 5, payload: xz("a"))
                == xsMsg(2, xz("a"), req: 0x01020304, tx: 5))
    }
}
