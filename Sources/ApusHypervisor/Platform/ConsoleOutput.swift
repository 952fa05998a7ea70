#if hasFeature(Embedded)
import AArch64
import ApusCore

/// A domain's console output on its way to the board's UART.
enum ConsoleOutput {
    /// Every guest console byte comes here (emulated PL011 and PV console). The locks are
    /// held while printing so another CPU's line cannot come between the multiplexer's
    /// record of what is on the screen and the screen.
    static func write(domain id: Int, _ byte: UInt8) {
        Log.withConsole { mux, uart in mux.write(domain: id, byte, to: &uart) }
    }
}
#endif
