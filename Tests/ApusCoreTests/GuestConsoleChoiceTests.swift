import Testing
@testable import ApusCore

@Suite struct GuestConsoleChoiceTests {
    func prints(_ s: String, pl011: Bool = true) -> Bool {
        GuestConsoleChoice.printsPVConsole(bootargs: Array(s.utf8), hasPL011: pl011)
    }

    @Test func anHvcConsoleOnTheCommandLineIsPrinted() {
        #expect(prints("console=hvc0"))
        #expect(prints("earlycon console=ttyAMA0 console=hvc0 quiet"))
        #expect(prints("console=hvc1,115200"))
    }

    @Test func theEmulatedPL011NamedAloneLeavesThePVConsoleUnprinted() {
        #expect(!prints("console=ttyAMA0"))
        #expect(!prints("root=/dev/ram console=ttyAMA0,115200 quiet"))
    }

    @Test func aNamedConsoleThatReachesNobodyKeepsThePVConsolePrinted() {
        #expect(prints("console=ttyAMA0", pl011: false), "no PL011: hvc0 is all there is")
        #expect(prints("console=tty0"))
        #expect(prints("console=ttyS0,115200"))
    }

    @Test func noConsoleNamedPrintsIt() {
        #expect(prints(""))
        #expect(prints("quiet loglevel=3"))
        #expect(prints("console="), "an empty console= names nothing")
        #expect(prints("xconsole=ttyAMA0"), "not the console= key")
    }
}
