import Testing
@testable import ApusCore

/// Guest bytes are untrusted: every malformed message gets an error reply, nothing traps.
@Suite struct XenStoreMalformedTests {
    @Test func shortMessage() {
        let s = XenStore.twoDomains()
        #expect(s.handle([], from: 1) == [xsMsg(XS.error, xz("EINVAL"))])
        #expect(s.handle([2, 0, 0, 0, 9, 0, 0], from: 1) == [xsMsg(XS.error, xz("EINVAL"))])
    }

    @Test func lengthFieldMustMatchAndStayWithinPayloadMax() {
        let s = XenStore.twoDomains()
        var m = xsMsg(XS.read, xz("name"), req: 5, tx: 6)
        m[12] = 200                                       // claims more than present
        #expect(s.handle(m, from: 1) == [xsMsg(XS.error, xz("EINVAL"), req: 5, tx: 6)])
        m[12] = 2                                         // claims less
        #expect(s.handle(m, from: 1) == [xsMsg(XS.error, xz("EINVAL"), req: 5, tx: 6)])
        let big = [UInt8](repeating: 0x61, count: 4097)
        #expect(s.handle(xsMsg(XS.write, big, req: 7), from: 1) == [xsMsg(XS.error, xz("EINVAL"), req: 7)])
        var huge = xsMsg(XS.read, xz("name"))
        huge[12] = 0xFF; huge[13] = 0xFF; huge[14] = 0xFF; huge[15] = 0xFF
        #expect(XSReply(s.handle(huge, from: 1)[0])?.errorName == "EINVAL")
    }

    @Test func unknownAndReplyOnlyTypes() {
        let s = XenStore.twoDomains()
        for t: UInt32 in [XS.watchEvent, XS.error, 20, 27, 99, 0xFFFF, 0xFFFF_FFFF] {
            #expect(s.handle(xsMsg(t, xz("name"), req: 3), from: 1) == [xsMsg(XS.error, xz("EINVAL"), req: 3)], "type \(t)")
        }
    }

    @Test func missingOrExtraNULs() {
        let s = XenStore.twoDomains()
        #expect(s.req(XS.read, xb("name"), from: 1).errorName == "EINVAL", "no NUL")
        #expect(s.req(XS.read, xz("name", "x"), from: 1).errorName == "EINVAL", "two strings")
        #expect(s.req(XS.read, [], from: 1).errorName == "EINVAL", "empty")
        #expect(s.req(XS.directory, xb("data"), from: 1).errorName == "EINVAL")
        #expect(s.req(XS.mkdir, xz("a", "b"), from: 1).errorName == "EINVAL")
        #expect(s.req(XS.rm, xb("data"), from: 1).errorName == "EINVAL")
        #expect(s.req(XS.write, xb("data/nonul"), from: 1).errorName == "EINVAL")
        #expect(s.req(XS.watch, xz("data"), from: 1).errorName == "EINVAL", "token missing")
        #expect(s.req(XS.watch, xb("data\0tok"), from: 1).errorName == "EINVAL", "token unterminated")
        #expect(s.req(XS.watch, xz("a", "b", "c", "d"), from: 1).errorName == "EINVAL")
        #expect(s.req(XS.unwatch, xz("a", "b", "c"), from: 1).errorName == "EINVAL")
        #expect(s.req(XS.setPerms, xz("data"), from: 1).errorName == "EINVAL", "no permissions")
        #expect(s.req(XS.getDomainPath, xb("1"), from: 1).errorName == "EINVAL")
    }

    @Test func invalidPaths() {
        let s = XenStore.twoDomains()
        for p in ["/a b", "/a//b", "/a/", "data/", "//", "/a\u{7F}", "/é", "a.b", "/a\tb", "/a/./b", "*"] {
            #expect(s.readValue(p, from: 1).errorName == "EINVAL", "\(p)")
            #expect(s.writeValue(p, "x", from: 1).errorName == "EINVAL", "\(p)")
            #expect(s.req(XS.watch, xz(p, "t"), from: 1).errorName == "EINVAL", "\(p)")
        }
        #expect(s.writeValue("@introduceDomain", "x", from: 0).errorName == "EINVAL")
        #expect(s.req(XS.mkdir, xz("@x"), from: 0).errorName == "EINVAL")
        // '@', '-' and '_' are fine inside names.
        #expect(s.writeValue("data/a@b-c_d", "x", from: 1).payload == xsOK)
    }

    @Test func badPermissionStrings() {
        let s = XenStore.twoDomains()
        _ = s.writeValue("data/p", "", from: 1)
        for p in ["x1", "r", "", "r-1", "r1a", "r65536", "r0x10000", "rr1", "r 1", "r0xg"] {
            #expect(s.req(XS.setPerms, xz("data/p", p), from: 1).errorName == "EINVAL", "\(p)")
        }
        #expect(s.req(XS.setPerms, xz("data/p", "b0x1"), from: 1).payload == xsOK, "hex domid")
        #expect(s.req(XS.getPerms, xz("data/p"), from: 1).payload == xz("b1"))
    }

    @Test func valueMayContainAnyBytes() {
        let s = XenStore.twoDomains()
        let value: [UInt8] = Array(0...255)
        #expect(s.req(XS.write, xz("data/bin") + value, from: 1).payload == xsOK)
        #expect(s.readValue("data/bin", from: 1).payload == value)
    }

    @Test func notIntroducedDomainIsRefused() {
        let s = XenStore.twoDomains()
        #expect(s.handle(xsMsg(XS.read, xz("name"), req: 1), from: 42) == [xsMsg(XS.error, xz("EACCES"), req: 1)])
    }

    /// Deterministic fuzzing: random types, ids, NUL placement and path bytes.
    @Test func randomMessagesNeverTrap() {
        var rng = XSSplitMix(seed: 0x5EED)
        let s = XenStore.twoDomains()
        let alphabet = Array("/abc@_-0123\0".utf8) + [0xFF, 0x20, 0x2E]
        for _ in 0..<20000 {
            let type = UInt32(rng.next() % 30)
            let from = UInt16(rng.next() % 4)
            let tx = rng.next() % 4 == 0 ? UInt32(rng.next() % 4) : 0
            var payload = [UInt8]()
            let n = Int(rng.next() % 40)
            for _ in 0..<n { payload.append(alphabet[Int(rng.next() % UInt64(alphabet.count))]) }
            if rng.next() % 2 == 0 { payload = Array("data/".utf8) + payload }
            var m = xsMsg(type, payload, req: UInt32(truncatingIfNeeded: rng.next()), tx: tx)
            if rng.next() % 50 == 0 { m[12] = UInt8(truncatingIfNeeded: rng.next()) }
            if rng.next() % 80 == 0 { m = Array(m.prefix(Int(rng.next() % 20))) }
            let replies = s.handle(m, from: from)
            #expect(replies.count == 1)
            if let r = XSReply(replies[0]) { #expect(r.payload.count <= 4096) } else { Issue.record("bad reply") }
        }
        // Still serving normally.
        #expect(s.readValue("name", from: 1).text == "alpha")
    }
}

struct XSSplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
