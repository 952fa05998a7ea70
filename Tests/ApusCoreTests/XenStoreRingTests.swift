import Testing
@testable import ApusCore

@Suite struct XenStoreRingTests {
    @Test func initializeAdvertisesErrorFieldAndConnected() {
        var g = XSGuestRing()
        g.setIndex(XenStoreRingLayout.requestProducer, 77)
        XenStoreRing.initialize(&g.page, eventChannel: 3)
        #expect(g.index(2048) == 0 && g.index(2052) == 0 && g.index(2056) == 0 && g.index(2060) == 0)
        #expect(g.index(2064) == 2, "XENSTORE_SERVER_FEATURE_ERROR")
        #expect(g.index(2068) == 0, "XENSTORE_CONNECTED")
        #expect(g.index(2072) == 0)
        #expect(g.index(2076) == 3)
    }

    @Test func requestAndReplyThroughThePage() {
        let s = XenStore.twoDomains()
        var g = XSGuestRing()
        g.send(xsMsg(XS.read, xz("name"), req: 11))
        let r = s.service(domid: 1, page: &g.page)
        #expect(r == XenStoreServiceResult(notify: true, broken: false, moreWork: false))
        #expect(g.index(XenStoreRingLayout.requestConsumer) == g.index(XenStoreRingLayout.requestProducer))
        #expect(g.receive() == xsMsg(XS.read, xb("alpha"), req: 11))
        // Nothing to do: no notification.
        #expect(s.service(domid: 1, page: &g.page) == XenStoreServiceResult(notify: false, broken: false, moreWork: false))
    }

    @Test func severalRequestsAndTheWatchEventAfterTheReply() {
        let s = XenStore.twoDomains()
        var g = XSGuestRing()
        g.send(xsMsg(XS.watch, xz("control/shutdown", "sd"), req: 1))
        g.send(xsMsg(XS.write, xz("data/x") + xb("1"), req: 2))
        _ = s.service(domid: 1, page: &g.page)
        let msgs = xsSplitMessages(g.receive())
        #expect(msgs.map { $0.type } == [XS.watch, XS.watchEvent, XS.write])
        #expect(msgs[1].payload == xz("control/shutdown", "sd"))
    }

    @Test func eventsForAnotherDomainAreDeliveredToItsRing() {
        let s = XenStore.twoDomains()
        var g1 = XSGuestRing(), g2 = XSGuestRing()
        _ = s.writeValue("/local/domain/2/data/in", "", from: 0)
        _ = s.req(XS.setPerms, xz("/local/domain/2/data/in", "n2", "b1"), from: 0)
        g2.send(xsMsg(XS.watch, xz("data/in", "inbox"), req: 1))
        _ = s.service(domid: 2, page: &g2.page)
        _ = g2.receive()
        g1.send(xsMsg(XS.write, xz("/local/domain/2/data/in/m") + xb("hello"), req: 5))
        let r1 = s.service(domid: 1, page: &g1.page)
        #expect(r1.notify)
        #expect(xsSplitMessages(g1.receive()).map { $0.type } == [XS.write])
        #expect(s.domainsWithPendingEvents() == [2])
        let r2 = s.service(domid: 2, page: &g2.page)
        #expect(r2.notify)
        #expect(g2.receive() == xsMsg(XS.watchEvent, xz("data/in/m", "inbox")))
        #expect(s.domainsWithPendingEvents().isEmpty)
    }

    @Test func wrapAroundTheRingEnd() {
        let s = XenStore.twoDomains()
        var g = XSGuestRing()
        // Free-running indices just below 2^32 and not at a ring boundary.
        let start: UInt32 = 0xFFFF_FFF0 &- 3
        for off in [2048, 2052, 2056, 2060] { g.setIndex(off, start) }
        var total = 0
        for i in 0..<40 {
            let m = xsMsg(XS.write, xz("data/key\(i)") + [UInt8](repeating: UInt8(65 + i % 26), count: 100), req: UInt32(i))
            total += m.count
            g.send(m)
            _ = s.service(domid: 1, page: &g.page)
            let replies = xsSplitMessages(g.receive())
            #expect(replies == [XSReply(xsMsg(XS.write, xsOK, req: UInt32(i)))!])
        }
        #expect(g.index(XenStoreRingLayout.requestConsumer) == start &+ UInt32(total))
        #expect(s.readValue("data/key39", from: 1).payload == [UInt8](repeating: UInt8(65 + 39 % 26), count: 100))
    }

    @Test func partialMessageAcrossTwoReads() {
        var ring = XenStoreRing()
        var g = XSGuestRing()
        let m = xsMsg(XS.write, xz("data/p") + xb("value"), req: 9)
        g.send(Array(m[0..<10]))                   // part of the header
        #expect(ring.consumeRequests(&g.page).isEmpty)
        #expect(g.index(XenStoreRingLayout.requestConsumer) == 10, "bytes are taken as they come")
        g.send(Array(m[10..<20]))                  // rest of header, part of payload
        #expect(ring.consumeRequests(&g.page).isEmpty)
        g.send(Array(m[20...]))
        #expect(ring.consumeRequests(&g.page) == [m])
        #expect(!ring.isBroken)
    }

    @Test func largestMessageSpansSeveralRingFills() {
        let s = XenStore.twoDomains()
        var g = XSGuestRing()
        let value = [UInt8](repeating: 0x7A, count: 4096 - 9)
        let m = xsMsg(XS.write, xz("/big/one") + value, req: 1)
        #expect(m.count == 16 + 4096)
        var sent = 0
        var replies: [XSReply] = []
        while sent < m.count {
            let room = 1024 - Int(g.index(2052) &- g.index(2048))
            let n = min(room, m.count - sent)
            g.send(Array(m[sent..<(sent + n)]))
            sent += n
            _ = s.service(domid: 0, page: &g.page)
            replies += xsSplitMessages(g.receive())
        }
        #expect(replies == [XSReply(xsMsg(XS.write, xsOK, req: 1))!])
        #expect(s.read(xb("/big/one")) == value)
    }

    @Test func absurdProducerIndexBreaksTheConnection() {
        let s = XenStore.twoDomains()
        var g = XSGuestRing()
        _ = s.req(XS.watch, xz("data", "w"), from: 1)
        _ = s.pendingWatchEvents(for: 1)
        g.setIndex(XenStoreRingLayout.requestProducer, 5000)
        let r = s.service(domid: 1, page: &g.page)
        #expect(r.broken && !r.moreWork)
        #expect(g.index(XenStoreRingLayout.error) == 2, "XENSTORE_ERROR_RINGIDX")
        #expect(g.index(XenStoreRingLayout.requestConsumer) == 0, "nothing consumed")
        #expect(s.isBroken(1))
        // Ignored from now on; its watches are gone.
        g.setIndex(XenStoreRingLayout.requestProducer, 0)
        g.send(xsMsg(XS.read, xz("name")))
        #expect(s.service(domid: 1, page: &g.page).broken)
        #expect(g.index(XenStoreRingLayout.requestConsumer) == 0)
        _ = s.writeValue("data/x", "", from: 0)
        #expect(s.pendingWatchEvents(for: 1).isEmpty)
        // Release and re-introduce gives a fresh connection.
        s.release(domid: 1)
        s.introduce(domid: 1, name: xb("alpha"))
        XenStoreRing.initialize(&g.page)
        g.send(xsMsg(XS.read, xz("name")))
        #expect(!s.service(domid: 1, page: &g.page).broken)
        #expect(xsSplitMessages(g.receive()).first?.text == "alpha")
    }

    @Test func consumerAheadOfProducerIsAlsoAbsurd() {
        var ring = XenStoreRing()
        var g = XSGuestRing()
        g.setIndex(XenStoreRingLayout.requestConsumer, 10)
        g.setIndex(XenStoreRingLayout.requestProducer, 5)
        #expect(ring.consumeRequests(&g.page).isEmpty)
        #expect(ring.failure == .ringIndex)
    }

    @Test func oversizedHeaderBreaksTheConnection() {
        var ring = XenStoreRing()
        var g = XSGuestRing()
        g.send(xsLE32Bytes(XS.write) + xsLE32Bytes(1) + xsLE32Bytes(0) + xsLE32Bytes(4097))
        #expect(ring.consumeRequests(&g.page).isEmpty)
        #expect(ring.failure == .protocolViolation)
        #expect(g.index(XenStoreRingLayout.error) == 3, "XENSTORE_ERROR_PROTO")
        g.send(xsMsg(XS.read, xz("x")))
        #expect(ring.consumeRequests(&g.page).isEmpty)
    }

    @Test func absurdResponseIndicesBreakTheConnection() {
        var ring = XenStoreRing()
        var g = XSGuestRing()
        g.setIndex(XenStoreRingLayout.responseConsumer, 0x8000_0000)
        #expect(ring.produceResponses(&g.page, [xsMsg(XS.read, xb("x"))]) == 0)
        #expect(ring.failure == .ringIndex)
    }

    @Test func fullResponseRingKeepsTheRestQueued() {
        var ring = XenStoreRing()
        var g = XSGuestRing()
        let m = xsMsg(XS.read, [UInt8](repeating: 0x41, count: 700))
        #expect(ring.produceResponses(&g.page, [m, m]) == 1024)
        #expect(ring.pendingOutputBytes == 2 * m.count - 1024)
        #expect(ring.flush(&g.page) == 0, "guest has not read")
        var got = g.receive()
        #expect(ring.flush(&g.page) == 2 * m.count - 1024)
        got += g.receive()
        #expect(got == m + m)
        #expect(ring.pendingOutputBytes == 0)
    }

    @Test func serviceStopsTakingRequestsWhileRepliesAreUnread() {
        let s = XenStore.twoDomains()
        var g = XSGuestRing()
        let value = [UInt8](repeating: 0x42, count: 900)
        _ = s.req(XS.write, xz("data/v") + value, from: 1)
        // Each reply is 916 bytes: the second does not fit, the guest does not read.
        for i in 0..<3 { g.send(xsMsg(XS.read, xz("data/v"), req: UInt32(i))) }
        _ = s.service(domid: 1, page: &g.page)
        let consumed = g.index(XenStoreRingLayout.requestConsumer)
        #expect(consumed < g.index(XenStoreRingLayout.requestProducer), "requests wait in the ring")
        var stream: [UInt8] = []
        for _ in 0..<5 {
            stream += g.receive()
            _ = s.service(domid: 1, page: &g.page)
        }
        stream += g.receive()
        let replies = xsSplitMessages(stream)
        #expect(replies.map { $0.req } == [0, 1, 2])
        #expect(replies.allSatisfy { $0.payload == value })
    }

    @Test func perCallBudgetReportsMoreWork() {
        var limits = XenStoreLimits()
        limits.requestsPerService = 2
        let s = XenStore.twoDomains(limits: limits)
        var g = XSGuestRing()
        for i in 0..<5 { g.send(xsMsg(XS.getDomainPath, xz("1"), req: UInt32(i))) }
        var r = s.service(domid: 1, page: &g.page)
        #expect(r.moreWork)
        var n = xsSplitMessages(g.receive()).count
        var rounds = 0
        while r.moreWork && rounds < 10 {
            r = s.service(domid: 1, page: &g.page)
            n += xsSplitMessages(g.receive()).count
            rounds += 1
        }
        #expect(n == 5)
        #expect(!r.moreWork)
    }

    @Test func randomRingStateNeverTraps() {
        var rng = XSSplitMix(seed: 42)
        for _ in 0..<300 {
            let s = XenStore.twoDomains()
            var g = XSGuestRing()
            for off in [2048, 2052, 2056, 2060] where rng.next() % 3 == 0 {
                g.setIndex(off, UInt32(truncatingIfNeeded: rng.next()))
            }
            for i in 0..<1024 where rng.next() % 4 == 0 { g.page.bytes[i] = UInt8(truncatingIfNeeded: rng.next()) }
            for _ in 0..<4 {
                _ = s.service(domid: 1, page: &g.page)
                if rng.next() % 2 == 0 { _ = g.receive() }
            }
        }
    }
}
