import Testing
@testable import ApusCore

@Suite struct GuestConsoleChoiceTests {
    func prints(_ s: String) -> Bool { GuestConsoleChoice.printsPVConsole(bootargs: Array(s.utf8)) }

    @Test func anHvcConsoleOnTheCommandLineIsPrinted() {
        #expect(prints("console=hvc0"))
        #expect(prints("earlycon console=ttyAMA0 console=hvc0 quiet"))
        #expect(prints("console=hvc1,115200"))
    }

    @Test func onlyAnotherConsoleNamedLeavesThePVConsoleUnprinted() {
        #expect(!prints("console=ttyAMA0"))
        #expect(!prints("root=/dev/ram console=ttyAMA0,115200 quiet"))
    }

    @Test func noConsoleNamedPrintsIt() {
        #expect(prints(""))
        #expect(prints("quiet loglevel=3"))
        #expect(prints("console="), "an empty console= names nothing")
        #expect(prints("xconsole=ttyAMA0"), "not the console= key")
    }
}
