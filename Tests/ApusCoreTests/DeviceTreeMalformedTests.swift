import Testing
@testable import ApusCore

/// Every malformed blob must give an FDTError; none may trap.
@Suite struct DeviceTreeMalformedTests {
    func parseError(_ bytes: [UInt8]) -> FDTError? {
        do {
            _ = try DeviceTree.parse(bytes)
            return nil
        } catch {
            return error
        }
    }

    @Test func minimalFixtureIsValid() throws {
        let tree = try DeviceTree.parse(RawFDT.minimal.bytes)
        #expect(tree.root.child(named: "n@1")?.property("reg")?.u32() == 1)
    }

    @Test func headerProblems() {
        let raw = RawFDT.minimal
        let good = raw.bytes
        #expect(parseError([]) == .truncatedHeader)
        #expect(parseError(Array(good[0..<39])) == .truncatedHeader)
        #expect(parseError(raw.bytes(settingHeaderWordAt: 0, to: 0xEDFE_0DD0)) == .badMagic(0xEDFE_0DD0))
        #expect(parseError(raw.bytes(settingHeaderWordAt: 20, to: 15))
                == .unsupportedVersion(version: 15, lastCompatibleVersion: 16))
        #expect(parseError(raw.bytes(settingHeaderWordAt: 24, to: 18))
                == .unsupportedVersion(version: 17, lastCompatibleVersion: 18))
        #expect(parseError(raw.bytes(settingHeaderWordAt: 4, to: UInt32(good.count + 1)))
                == .totalSizeTooLarge(totalSize: UInt32(good.count + 1), available: good.count))
        #expect(parseError(raw.bytes(settingHeaderWordAt: 4, to: 0xFFFF_FFFF))
                == .totalSizeTooLarge(totalSize: 0xFFFF_FFFF, available: good.count))
        #expect(parseError(raw.bytes(settingHeaderWordAt: 4, to: 39)) == .totalSizeTooSmall(39))
    }

    @Test func truncatedBlob() {
        let good = RawFDT.minimal.bytes
        // Cut inside the strings block: totalsize now exceeds what is there.
        #expect(parseError(Array(good[0..<(good.count - 3)]))
                == .totalSizeTooLarge(totalSize: UInt32(good.count), available: good.count - 3))
    }

    @Test func blockOffsetsOutOfRange() {
        let raw = RawFDT.minimal
        let total = UInt32(raw.bytes.count)
        #expect(parseError(raw.bytes(settingHeaderWordAt: 8, to: total + 4)) == .blockOutOfBounds(.structure))
        #expect(parseError(raw.bytes(settingHeaderWordAt: 8, to: 0xFFFF_FFFC)) == .blockOutOfBounds(.structure))
        #expect(parseError(raw.bytes(settingHeaderWordAt: 8, to: 8)) == .blockOutOfBounds(.structure))
        #expect(parseError(raw.bytes(settingHeaderWordAt: 36, to: total)) == .blockOutOfBounds(.structure))
        #expect(parseError(raw.bytes(settingHeaderWordAt: 36, to: 0xFFFF_FFFF)) == .blockOutOfBounds(.structure))
        #expect(parseError(raw.bytes(settingHeaderWordAt: 8, to: UInt32(raw.structureOffset + 2)))
                == .misalignedBlock(.structure))
        #expect(parseError(raw.bytes(settingHeaderWordAt: 12, to: total + 1)) == .blockOutOfBounds(.strings))
        #expect(parseError(raw.bytes(settingHeaderWordAt: 32, to: total)) == .blockOutOfBounds(.strings))
        #expect(parseError(raw.bytes(settingHeaderWordAt: 32, to: 0xFFFF_FFFF)) == .blockOutOfBounds(.strings))
        #expect(parseError(raw.bytes(settingHeaderWordAt: 16, to: total)) == .blockOutOfBounds(.memoryReservationMap))
        #expect(parseError(raw.bytes(settingHeaderWordAt: 16, to: 0)) == .blockOutOfBounds(.memoryReservationMap))
        #expect(parseError(raw.bytes(settingHeaderWordAt: 16, to: 44)) == .misalignedBlock(.memoryReservationMap))
    }

    @Test func unterminatedReservationMap() {
        var raw = RawFDT.minimal
        raw.reservations = [(1, 1)]
        // Point the map at its non-zero entry and remove the terminator by pointing past it
        // into the (non-zero) structure block, which runs to the end of the blob.
        #expect(parseError(raw.bytes(settingHeaderWordAt: 16, to: UInt32(raw.structureOffset)))
                == .unterminatedReservationMap)
    }

    @Test func structureWithoutEndToken() {
        var raw = RawFDT()
        raw.beginNode("")
        raw.endNode()
        #expect(parseError(raw.bytes) == .truncatedStructure(offset: raw.structureOffset + 12))
        var empty = RawFDT()
        empty.structure = []
        #expect(parseError(empty.bytes) == .truncatedStructure(offset: empty.structureOffset))
    }

    @Test func unterminatedNodeName() {
        var raw = RawFDT()
        raw.word(1)
        raw.structure += dtText("abcdefgh")   // no NUL before the block ends
        #expect(parseError(raw.bytes) == .unterminatedNodeName(offset: raw.structureOffset))
    }

    @Test func unterminatedNode() {
        var raw = RawFDT()
        raw.beginNode("")
        raw.beginNode("child")
        raw.endNode()
        raw.end()
        #expect(parseError(raw.bytes) == .unclosedNode(offset: raw.structureOffset + 24))
    }

    @Test func badToken() {
        var raw = RawFDT()
        raw.beginNode("")
        raw.word(5)
        raw.endNode()
        raw.end()
        #expect(parseError(raw.bytes) == .badToken(offset: raw.structureOffset + 8, token: 5))
    }

    @Test func propertyLengthPastEnd() {
        var raw = RawFDT()
        raw.beginNode("")
        raw.prop(nameOffset: raw.stringOffset("p"), value: [1, 2, 3, 4], length: 0x1000)
        raw.endNode()
        raw.end()
        #expect(parseError(raw.bytes) == .propertyOutOfBounds(offset: raw.structureOffset + 8))
        var huge = RawFDT()
        huge.beginNode("")
        huge.prop(nameOffset: huge.stringOffset("p"), value: [], length: 0xFFFF_FFFF)
        #expect(parseError(huge.bytes) == .propertyOutOfBounds(offset: huge.structureOffset + 8))
    }

    @Test func propertyHeaderCutOff() {
        var raw = RawFDT()
        raw.beginNode("")
        raw.word(3)
        raw.word(0)
        #expect(parseError(raw.bytes) == .truncatedStructure(offset: raw.structureOffset + 8))
    }

    @Test func stringOffsetOutOfRange() {
        var raw = RawFDT()
        _ = raw.stringOffset("abc")
        raw.beginNode("")
        raw.prop(nameOffset: 4, value: [])
        raw.prop(nameOffset: 0xFFFF_FFFF, value: [])
        raw.endNode()
        raw.end()
        #expect(parseError(raw.bytes) == .stringOffsetOutOfRange(offset: raw.structureOffset + 8, nameOffset: 4))
    }

    @Test func unterminatedString() {
        var raw = RawFDT()
        raw.strings = dtText("ok") + [0] + dtText("bad")
        raw.beginNode("")
        raw.prop(nameOffset: 0, value: [])
        raw.prop(nameOffset: 3, value: [])
        raw.endNode()
        raw.end()
        #expect(parseError(raw.bytes) == .unterminatedString(offset: raw.structureOffset + 20, nameOffset: 3))
    }

    @Test func tokenStreamShapeErrors() {
        var outside = RawFDT()
        outside.prop("p", [])
        outside.end()
        #expect(parseError(outside.bytes) == .propertyOutsideNode(offset: outside.structureOffset))

        var extraEnd = RawFDT()
        extraEnd.beginNode("")
        extraEnd.endNode()
        extraEnd.endNode()
        extraEnd.end()
        #expect(parseError(extraEnd.bytes) == .unexpectedEndNode(offset: extraEnd.structureOffset + 12))

        var twoRoots = RawFDT()
        twoRoots.beginNode("")
        twoRoots.endNode()
        twoRoots.beginNode("")
        twoRoots.endNode()
        twoRoots.end()
        #expect(parseError(twoRoots.bytes) == .multipleRoots(offset: twoRoots.structureOffset + 12))

        var noRoot = RawFDT()
        noRoot.nop()
        noRoot.end()
        #expect(parseError(noRoot.bytes) == .missingRoot)
    }

    @Test func depthLimit() throws {
        func nested(_ depth: Int) -> [UInt8] {
            var raw = RawFDT()
            for _ in 0..<depth { raw.beginNode("n") }
            for _ in 0..<depth { raw.endNode() }
            raw.end()
            return raw.bytes
        }
        var node = try DeviceTree.parse(nested(FDT.maxDepth)).root
        var depth = 1
        while let child = node.children.first { node = child; depth += 1 }
        #expect(depth == FDT.maxDepth)
        let tooDeep = nested(FDT.maxDepth + 1)
        #expect(parseError(tooDeep) == .tooDeep(offset: RawFDT().structureOffset + 8 * FDT.maxDepth))
        #expect(parseError(nested(100_000)) != nil)
    }

    /// Cutting a valid blob anywhere, or corrupting any single byte, must never trap; whatever
    /// still parses must survive a serialize/parse round trip.
    @Test func truncationAndCorruptionNeverTrap() throws {
        let good = DeviceTreeRoundTripTests.richTree.serialize()
        for length in 0..<good.count {
            #expect(parseError(Array(good[0..<length])) != nil)
        }
        var parsedCount = 0
        for position in 0..<good.count {
            for value: UInt8 in [0x00, 0xFF, 0x01, 0x80, good[position] ^ 0x04] {
                var bytes = good
                bytes[position] = value
                if let tree = try? DeviceTree.parse(bytes) {
                    parsedCount += 1
                    #expect(try DeviceTree.parse(tree.serialize()) == tree)
                }
            }
        }
        #expect(parsedCount > 0)
    }

    @Test func randomCorruptionOfARealBlobNeverTraps() throws {
        let good = DeviceTreeFixtures.qemuVirtDTB
        let content = DeviceTreeFixtures.qemuVirtDTBContent.count
        var state: UInt64 = 0x2545_F491_4F6C_DD1D
        func next() -> Int {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            return Int(truncatingIfNeeded: state >> 1)
        }
        for _ in 0..<300 {
            var bytes = good
            for _ in 0..<(1 + next() % 8) {
                bytes[next() % content] = UInt8(truncatingIfNeeded: next())
            }
            if let tree = try? DeviceTree.parse(bytes) {
                #expect(try DeviceTree.parse(tree.serialize()) == tree)
            }
        }
    }
}
