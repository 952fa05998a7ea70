import Testing
@testable import ApusCore

/// Byte-exact request/reply pairs for every message type a domain uses.
@Suite struct XenStoreWireTests {
    @Test func readReplyIsByteExact() {
        let s = XenStore.twoDomains()
        let request: [UInt8] = [2, 0, 0, 0,  7, 0, 0, 0,  0, 0, 0, 0,  5, 0, 0, 0] + Array("name".utf8) + [0]
        let replies = s.handle(request, from: 1)
        #expect(replies == [[2, 0, 0, 0,  7, 0, 0, 0,  0, 0, 0, 0,  5, 0, 0, 0] + Array("alpha".utf8)])
    }

    @Test func writeAndReadBack() {
        let s = XenStore.twoDomains()
        let w = s.handle(xsMsg(XS.write, xz("data/key") + xb("v a\0l"), req: 42), from: 1)
        #expect(w == [xsMsg(XS.write, xsOK, req: 42)])
        // Values are binary: embedded NULs survive.
        let r = s.handle(xsMsg(XS.read, xz("/local/domain/1/data/key"), req: 43), from: 1)
        #expect(r == [xsMsg(XS.read, xb("v a\0l"), req: 43)])
    }

    @Test func errorReplyEchoesReqAndTxIDs() {
        let s = XenStore.twoDomains()
        let txr = s.req(XS.txStart, xz(""), from: 1)
        #expect(txr.payload == xz("1"))
        let r = s.handle(xsMsg(XS.read, xz("nothing"), req: 0xDEADBEEF, tx: 1), from: 1)
        #expect(r == [xsMsg(XS.error, xz("ENOENT"), req: 0xDEADBEEF, tx: 1)])
    }

    @Test func directoryListsChildrenInCreationOrder() {
        let s = XenStore.twoDomains()
        for k in ["zeta", "alpha", "mid"] { #expect(s.writeValue("data/\(k)", "", from: 1).payload == xsOK) }
        let r = s.handle(xsMsg(XS.directory, xz("data"), req: 9), from: 1)
        #expect(r == [xsMsg(XS.directory, xz("zeta", "alpha", "mid"), req: 9)])
        // An empty directory has an empty payload.
        #expect(s.handle(xsMsg(XS.directory, xz("data/mid"), req: 10), from: 1) == [xsMsg(XS.directory, [], req: 10)])
    }

    @Test func getPermsReplyIsPermStrings() {
        let s = XenStore.twoDomains()
        let r = s.handle(xsMsg(XS.getPerms, xz("/local/domain/1"), req: 3), from: 1)
        #expect(r == [xsMsg(XS.getPerms, xz("n1", "r0"), req: 3)])
        #expect(s.req(XS.getPerms, xz("/"), from: 0).payload == xz("n0"))
    }

    @Test func setPermsThenGetPerms() {
        let s = XenStore.twoDomains()
        #expect(s.writeValue("data/shared", "x", from: 1).payload == xsOK)
        let r = s.handle(xsMsg(XS.setPerms, xz("data/shared", "n1", "r2", "b0"), req: 5), from: 1)
        #expect(r == [xsMsg(XS.setPerms, xsOK, req: 5)])
        #expect(s.req(XS.getPerms, xz("data/shared"), from: 1).payload == xz("n1", "r2", "b0"))
    }

    @Test func watchRepliesOKThenFiresOnce() {
        let s = XenStore.twoDomains()
        let r = s.handle(xsMsg(XS.watch, xz("control/shutdown", "tok"), req: 8, tx: 77), from: 1)
        #expect(r == [xsMsg(XS.watch, xsOK, req: 8, tx: 77)], "tx_id is echoed but ignored")
        // The immediate event: relative path, req_id 0, tx_id 0, "path\0token\0".
        #expect(s.pendingWatchEvents(for: 1) == [xsMsg(XS.watchEvent, xz("control/shutdown", "tok"))])
        #expect(s.pendingWatchEvents(for: 1).isEmpty, "drained")
    }

    @Test func watchEventPayloadForAChange() {
        let s = XenStore.twoDomains()
        _ = s.req(XS.watch, xz("/local/domain/1/control", "T1"), from: 1)
        _ = s.pendingWatchEvents(for: 1)
        _ = s.writeValue("/local/domain/1/control/shutdown", "poweroff", from: 0)
        #expect(s.pendingWatchEvents(for: 1) == [xsMsg(XS.watchEvent, xz("/local/domain/1/control/shutdown", "T1"))])
    }

    @Test func unwatch() {
        let s = XenStore.twoDomains()
        _ = s.req(XS.watch, xz("data", "t"), from: 1)
        #expect(s.handle(xsMsg(XS.unwatch, xz("data", "t"), req: 2), from: 1) == [xsMsg(XS.unwatch, xsOK, req: 2)])
        #expect(s.req(XS.unwatch, xz("data", "t"), from: 1).errorName == "ENOENT")
    }

    @Test func transactionStartAndEnd() {
        let s = XenStore.twoDomains()
        #expect(s.handle(xsMsg(XS.txStart, xz(""), req: 1), from: 1) == [xsMsg(XS.txStart, xz("1"), req: 1)])
        #expect(s.handle(xsMsg(XS.txStart, xz(""), req: 2), from: 1) == [xsMsg(XS.txStart, xz("2"), req: 2)])
        #expect(s.handle(xsMsg(XS.txEnd, xz("T"), req: 3, tx: 1), from: 1) == [xsMsg(XS.txEnd, xsOK, req: 3, tx: 1)])
        #expect(s.handle(xsMsg(XS.txEnd, xz("F"), req: 4, tx: 2), from: 1) == [xsMsg(XS.txEnd, xsOK, req: 4, tx: 2)])
    }

    @Test func getDomainPath() {
        let s = XenStore.twoDomains()
        #expect(s.handle(xsMsg(XS.getDomainPath, xz("7"), req: 1), from: 1) == [xsMsg(XS.getDomainPath, xz("/local/domain/7"), req: 1)])
        #expect(s.req(XS.getDomainPath, xz("65535"), from: 2).payload == xz("/local/domain/65535"))
        #expect(s.req(XS.getDomainPath, xz("65536"), from: 2).errorName == "EINVAL")
        #expect(s.req(XS.getDomainPath, xz("x"), from: 2).errorName == "EINVAL")
    }

    @Test func mkdirAndRm() {
        let s = XenStore.twoDomains()
        #expect(s.handle(xsMsg(XS.mkdir, xz("data/a/b"), req: 1), from: 1) == [xsMsg(XS.mkdir, xsOK, req: 1)])
        #expect(s.readValue("data/a/b", from: 1).payload == [])
        #expect(s.req(XS.mkdir, xz("data/a/b"), from: 1).payload == xsOK, "existing: fine")
        #expect(s.handle(xsMsg(XS.rm, xz("data/a"), req: 2), from: 1) == [xsMsg(XS.rm, xsOK, req: 2)])
        #expect(s.readValue("data/a/b", from: 1).errorName == "ENOENT")
        #expect(s.req(XS.rm, xz("data/a"), from: 1).payload == xsOK, "absent with parent present: fine")
        #expect(s.req(XS.rm, xz("data/a/b"), from: 1).errorName == "ENOENT", "parent absent too")
        #expect(s.req(XS.rm, xz("/"), from: 0).errorName == "EINVAL")
    }

    @Test func resetWatches() {
        let s = XenStore.twoDomains()
        _ = s.req(XS.watch, xz("data", "t"), from: 1)
        _ = s.req(XS.txStart, xz(""), from: 1)
        _ = s.pendingWatchEvents(for: 1)
        // Linux sends an empty string ("\0").
        #expect(s.handle(xsMsg(XS.resetWatches, xz(""), req: 6), from: 1) == [xsMsg(XS.resetWatches, xsOK, req: 6)])
        _ = s.writeValue("data/x", "1", from: 1)
        #expect(s.pendingWatchEvents(for: 1).isEmpty)
        #expect(s.readValue("data", from: 1, tx: 1).errorName == "ENOENT", "transactions are gone too")
    }

    @Test func isDomainIntroducedForThePrivilegedCaller() {
        let s = XenStore.twoDomains()
        #expect(s.handle(xsMsg(XS.isIntroduced, xz("1"), req: 4), from: 0) == [xsMsg(XS.isIntroduced, xz("T"), req: 4)])
        #expect(s.req(XS.isIntroduced, xz("3"), from: 0).payload == xz("F"))
        #expect(s.req(XS.isIntroduced, xz("32752"), from: 0).payload == xz("T"), "DOMID_SELF")
        #expect(s.req(XS.isIntroduced, xz("1"), from: 1).errorName == "EACCES")
    }

    @Test func directoryPartPagesThroughALongList() {
        let s = XenStore.twoDomains()
        var names: [String] = []
        for i in 0..<400 {
            let n = "child-with-a-rather-long-name-\(i)"
            names.append(n)
            #expect(s.writeValue("/big/\(n)", "", from: 0).payload == xsOK)
        }
        // The whole list is over a payload: DIRECTORY says E2BIG.
        #expect(s.req(XS.directory, xz("/big"), from: 0).errorName == "E2BIG")
        let gen = s.nodes[xb("/big")]!.generation
        var got: [String] = []
        var offset = 0
        var rounds = 0
        while rounds < 10 {
            rounds += 1
            let r = s.req(XS.directoryPart, xz("/big", "\(offset)"), from: 0)
            #expect(r.type == XS.directoryPart)
            #expect(r.payload.count <= 4096)
            var parts = r.strings
            #expect(parts.removeFirst() == "\(gen)")
            if parts.last == "" {            // list complete: extra NUL
                parts.removeLast()
                got += parts
                break
            }
            got += parts
            offset += parts.reduce(0) { $0 + $1.utf8.count + 1 }
        }
        #expect(rounds > 1)
        #expect(got == names)
        // Past the end: generation then an empty string.
        let end = s.req(XS.directoryPart, xz("/big", "999999"), from: 0)
        #expect(end.payload == xz("\(gen)", ""))
        // Exactly two strings are required.
        #expect(s.req(XS.directoryPart, xz("/big"), from: 0).errorName == "EINVAL")
    }

    @Test func errorNamesAreXsdErrors() {
        let all: [(XenStoreError, String)] = [
            (.einval, "EINVAL"), (.eacces, "EACCES"), (.eexist, "EEXIST"), (.eisdir, "EISDIR"),
            (.enoent, "ENOENT"), (.enomem, "ENOMEM"), (.enospc, "ENOSPC"), (.eio, "EIO"),
            (.enotempty, "ENOTEMPTY"), (.enosys, "ENOSYS"), (.erofs, "EROFS"), (.ebusy, "EBUSY"),
            (.eagain, "EAGAIN"), (.eisconn, "EISCONN"), (.e2big, "E2BIG"), (.eperm, "EPERM"),
        ]
        for (e, name) in all { #expect(e.wireName == xb(name)) }
    }

    @Test func watchEventBuilder() {
        #expect(XenStoreWire.watchEvent(path: xb("/a"), token: xb("t"))
                == [15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0x2F, 0x61, 0, 0x74, 0])
    }
}
