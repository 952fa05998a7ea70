/// The hypervisor console as Xen users know it: every domain's output goes to the
/// one physical UART with a "(dN) " prefix at the start of each line, and keyboard
/// input goes to one place at a time, moved along by pressing Ctrl-A three times.
///
/// Output from the domain holding the input focus is passed on as it comes (an
/// interactive shell's prompt has no newline); other domains' output is held per
/// line so that concurrent domains do not interleave mid-line.
///
/// The focused domain's unfinished line is the one "open" on the UART. Whole lines
/// printed by anyone else (another domain's held line, a hypervisor line, the focus
/// message) first end it with \r\n and then show it again, prefix and all, so the
/// user sees the prompt and what was typed so far (as readline redisplays a line).
/// If the owner loses the focus instead, what was shown goes back to its line
/// buffer and comes out later as part of a whole line; a domain that gains the focus
/// with text held shows it after the focus message (its prompt, say).
public struct ConsoleMux: Sendable {
    public static let switchChar: UInt8 = 0x01      // Ctrl-A
    public static let lineLimit = 160

    /// Domain ids in the order input focus visits them; focus index 0 is the hypervisor.
    public private(set) var domains: [Int] = []
    public private(set) var focus = 0
    var ctrlACount = 0
    /// Per domain (same order as `domains`): the line held back while it has no focus.
    /// Never holds \n or \r.
    var partial: [[UInt8]] = []
    /// The domain whose line is open on the UART (its prefix is printed, its \n is not), or -1.
    /// Only the focused domain passes bytes through, so this is the focused domain or nobody.
    var openOwner = -1
    /// The UART is not at the start of a line. Usually because `openOwner` has a line open;
    /// after the owner lost the focus or was removed, its text stays on screen unfinished.
    var midLine = false
    /// The open line as shown after its prefix: the last `lineLimit` bytes of it, a ring
    /// (allocated once, with the first domain, so the pass-through path never allocates).
    var shown: [UInt8] = []
    var shownEnd = 0
    var shownCount = 0

    public init() {}

    public mutating func addDomain(_ id: Int) {
        if shown.isEmpty { shown = [UInt8](repeating: 0, count: ConsoleMux.lineLimit) }
        domains.append(id); partial.append([])
        if domains.count == 1 { focus = 1 }          // a lone domain gets the keyboard, as dom0 does on Xen
    }

    public mutating func removeDomain(_ id: Int) {
        guard let i = domains.firstIndex(of: id) else { return }
        if openOwner == id { openOwner = -1 }        // its text stays on screen; the next line ends it
        domains.remove(at: i); partial.remove(at: i)
        if i + 1 < focus { focus -= 1 }                  // same domain keeps the keyboard
        else if focus == i + 1 { focus = domains.isEmpty ? 0 : min(focus, domains.count) }
    }

    /// Domain id that currently receives input, nil for the hypervisor.
    public var focusedDomain: Int? { focus == 0 ? nil : domains[focus - 1] }

    public enum Input: Equatable, Sendable {
        case toDomain(Int, UInt8)
        case toHypervisor(UInt8)
        /// Focus moved; the caller prints the focus message (`printFocusMessage`).
        case switched
        case swallowed
    }

    /// One byte typed on the physical console.
    public mutating func input(_ byte: UInt8) -> Input {
        if byte == ConsoleMux.switchChar {
            ctrlACount += 1
            if ctrlACount == 3 {
                ctrlACount = 0
                holdOpenLine()
                focus = (focus + 1) % (domains.count + 1)
                return .switched
            }
            return .swallowed
        }
        ctrlACount = 0
        if let d = focusedDomain { return .toDomain(d, byte) }
        return .toHypervisor(byte)
    }

    /// Xen 4.17's wording (xen/drivers/char/console.c): "(XEN) *** Serial input to DOM1 (type 'CTRL-a' three times to switch input)".
    public var focusMessage: String {
        if let d = focusedDomain {
            return "(XEN) *** Serial input to DOM\(d) (type 'CTRL-a' three times to switch input)\n"
        }
        return "(XEN) *** Serial input to Xen (type 'CTRL-a' three times to switch input)\n"
    }

    /// `focusMessage` as a whole hypervisor line.
    public mutating func printFocusMessage<S: ConsoleSink>(to out: inout S) {
        beginHypervisorLine(to: &out)
        for b in focusMessage.utf8 {
            if b == 0x0A { out.put(0x0D) }
            out.put(b)
        }
        endHypervisorLine(to: &out)
    }

    // MARK: output

    /// Prints what one byte of a domain's console output makes appear. This is the path of
    /// every guest console byte: for the focused domain it stores one byte and prints it.
    public mutating func write<S: ConsoleSink>(domain id: Int, _ byte: UInt8, to out: inout S) {
        if byte == 0x0D { return }                   // lines end with \n; \r comes back with it
        if focus > 0, domains[focus - 1] == id {
            if !partial[focus - 1].isEmpty { showHeldLine(to: &out) }
            passOn(id, byte, to: &out)
            return
        }
        guard let i = domains.firstIndex(of: id) else { return }
        if byte != 0x0A {
            partial[i].append(byte)
            if partial[i].count < ConsoleMux.lineLimit { return }
        }
        beginHypervisorLine(to: &out)
        put(prefixOf: id, to: &out)
        for b in partial[i] { out.put(b) }
        out.put(0x0D); out.put(0x0A)
        partial[i].removeAll(keepingCapacity: true)
        endHypervisorLine(to: &out)
    }

    /// Before a whole line printed by someone other than the open line's owner (the
    /// hypervisor, or a domain without focus): ends the open line.
    public mutating func beginHypervisorLine<S: ConsoleSink>(to out: inout S) {
        if midLine { out.put(0x0D); out.put(0x0A); midLine = false }
    }

    /// After such a line: the focused domain's unfinished line is shown again, so its
    /// prompt and partial input are the last thing on the screen.
    public mutating func endHypervisorLine<S: ConsoleSink>(to out: inout S) {
        if openOwner >= 0 {
            put(prefixOf: openOwner, to: &out)
            forEachShownByte { out.put($0) }
            midLine = true
        } else if focus > 0, !partial[focus - 1].isEmpty {
            showHeldLine(to: &out)                   // e.g. its prompt, held while it had no focus
        }
    }

    /// A byte of the focused domain, printed as it comes.
    mutating func passOn<S: ConsoleSink>(_ id: Int, _ byte: UInt8, to out: inout S) {
        if openOwner != id {
            beginHypervisorLine(to: &out)            // someone's unfinished text is still there
            put(prefixOf: id, to: &out)
            openLine(id)
        }
        if byte == 0x0A {
            out.put(0x0D); out.put(0x0A)
            openOwner = -1; midLine = false
        } else {
            out.put(byte)
            shown[shownEnd] = byte
            shownEnd = shownEnd + 1 == ConsoleMux.lineLimit ? 0 : shownEnd + 1
            if shownCount < ConsoleMux.lineLimit { shownCount += 1 }
        }
    }

    /// The focused domain's held text becomes its open line (it had no focus when it wrote it).
    mutating func showHeldLine<S: ConsoleSink>(to out: inout S) {
        let i = focus - 1, id = domains[i]
        var held: [UInt8] = []
        swap(&held, &partial[i])
        for b in held { passOn(id, b, to: &out) }
        held.removeAll(keepingCapacity: true)
        swap(&held, &partial[i])                     // its buffer keeps its capacity
    }

    /// Focus is moving away from the open line's owner: what it showed goes back to its
    /// line buffer, to be printed with the rest of that line once the line is complete.
    mutating func holdOpenLine() {
        guard openOwner >= 0, let i = domains.firstIndex(of: openOwner) else { return }
        var kept: [UInt8] = []
        forEachShownByte { kept.append($0) }
        partial[i] += kept
        openOwner = -1                               // midLine stays: the text is still on screen
    }

    mutating func openLine(_ id: Int) {
        openOwner = id; midLine = true
        shownEnd = 0; shownCount = 0
    }

    /// The open line's bytes as shown, oldest first, for printing them again: without terminal
    /// queries (ESC [ ... n, device status; ESC [ ... c, device attributes; a shell's line
    /// editor asks for the cursor position at its prompt), which show nothing, and which the
    /// terminal would answer again, its answer arriving at the domain as typed input.
    func forEachShownByte(_ body: (UInt8) -> Void) {
        var n = 0
        while n < shownCount {
            let b = shownByte(n)
            if b == 0x1B, n + 1 < shownCount, shownByte(n + 1) == 0x5B {
                var j = n + 2
                while j < shownCount, shownByte(j) >= 0x20, shownByte(j) <= 0x3F { j += 1 }   // parameters
                if j < shownCount, shownByte(j) == 0x6E || shownByte(j) == 0x63 { n = j + 1; continue }
            }
            body(b)
            n += 1
        }
    }

    func shownByte(_ n: Int) -> UInt8 {
        var k = shownEnd - shownCount + n
        if k < 0 { k += ConsoleMux.lineLimit }
        return shown[k]
    }

    func put<S: ConsoleSink>(prefixOf id: Int, to out: inout S) {
        out.put(0x28); out.put(0x64)                 // "(d"
        putDecimal(id, to: &out)
        out.put(0x29); out.put(0x20)                 // ") "
    }
}

/// Where console output goes: the UART in the image, an array in tests.
public protocol ConsoleSink {
    mutating func put(_ byte: UInt8)
}

/// Decimal digits of a non-negative integer, without String (keeps the image small).
public func decimal(_ v: Int) -> [UInt8] {
    if v <= 0 { return [0x30] }
    var n = v, d: [UInt8] = []
    while n > 0 { d.append(UInt8(0x30 + n % 10)); n /= 10 }
    return d.reversed()
}

/// The same digits, printed without building an array.
public func putDecimal<S: ConsoleSink>(_ v: Int, to out: inout S) {
    if v <= 0 { out.put(0x30); return }
    var div = 1
    while div <= v / 10 { div *= 10 }
    while div > 0 { out.put(UInt8(0x30 + (v / div) % 10)); div /= 10 }
}
