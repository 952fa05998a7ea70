import Testing
@testable import ApusCore

@Suite struct GuestEntropyTests {
    func hex(_ b: [UInt8]) -> String { b.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined() }

    @Test func sha256MatchesFIPSVectors() {
        #expect(hex(SHA256.hash([])) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(hex(SHA256.hash(Array("abc".utf8))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        // Two blocks (56 bytes: the padding spills into a second block).
        #expect(hex(SHA256.hash(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }

    @Test func seedsDifferPerDomainAndBootAndNeedABoardSeed() {
        let board = [UInt8](repeating: 7, count: 32)
        let a = GuestEntropy.seed(board: board, domain: 1, boot: 0)
        #expect(a?.count == 32)
        #expect(a != GuestEntropy.seed(board: board, domain: 2, boot: 0))
        #expect(a != GuestEntropy.seed(board: board, domain: 1, boot: 1))
        #expect(a == GuestEntropy.seed(board: board, domain: 1, boot: 0))
        #expect(GuestEntropy.seed(board: [], domain: 1, boot: 0) == nil)
    }
}
