// The xl.cfg file syntax, as Xen's libxlu reads it (tools/libs/util/libxlu_cfg_l.l and _y.y):
//
//   file    := { [ KEY ( "=" | "+=" ) value ] ( NEWLINE | ";" ) }
//   value   := atom | "[" {NEWLINE} [ atom {NEWLINE} { "," {NEWLINE} atom {NEWLINE} } [ "," {NEWLINE} ] ] "]"
//   atom    := "double-quoted" | 'single-quoted' | NUMBER
//
// - `#` starts a comment that runs to the end of the line; spaces and tabs separate tokens.
// - Both quote styles take the same backslash escapes: \" \' \\ \a \b \f \n \r \t \v \xHH \OOO.
//   A string cannot span lines.
// - NUMBER is a bare token starting with a digit; its text is kept and only read as an integer
//   when a key needs one (like libxlu, which stores every atom as a string and calls strtol(…, 0)).
//   So quoted numbers ("128") are integers too, and bare numbers are strings where a string is wanted.
// - Lists hold atoms only (no nesting) and may span lines; a trailing comma is allowed.
// - `KEY += value` appends to an earlier string or list of the same key (libxlu's OP_ADD);
//   otherwise a later assignment replaces an earlier one.
// Apus is a little more lenient than libxlu in two places: a carriage return counts as a space
// (CRLF files), and the last statement needs no final newline. Keys are read with upper case too
// so that a miscapitalised key is reported as an unknown key rather than as a lexical error.

/// One atom of an xl.cfg value: the text (escapes already processed) and whether it was quoted.
public struct XLAtom: Equatable, Sendable {
    public var text: String
    public var quoted: Bool

    public init(_ text: String, quoted: Bool) {
        self.text = text
        self.quoted = quoted
    }

    /// The atom as it would be written in the file, for messages: `"lots"` or `12x`.
    public var display: String { quoted ? "\"" + text + "\"" : text }
}

/// The value of one setting: a single atom or a list of atoms.
public enum XLValue: Equatable, Sendable {
    case atom(XLAtom)
    case list([XLAtom])
}

/// One `KEY = value` statement after `+=` merging: `line` is the line of its last assignment.
public struct XLSetting: Equatable, Sendable {
    public var key: String
    public var value: XLValue
    public var line: Int
    /// True if the final value was produced with `+=` (numbers refuse this, like xl).
    public var appended: Bool
}

/// The syntax layer: text to an ordered list of settings, one per key.
public enum XLConfigSyntax {
    /// Parses xl.cfg text. Settings come back in the order their keys first appear; a key assigned
    /// twice keeps its first position and takes the later value and line.
    public static func parse(text: String, fileName: String) throws(XLConfigError) -> [XLSetting] {
        var lexer = Lexer(bytes: Array(text.utf8), file: fileName)
        var settings: [XLSetting] = []
        var token = try lexer.next()
        while true {
            switch token.kind {
            case .eof:
                return settings
            case .newline, .semicolon:
                token = try lexer.next()
                continue
            case .ident(let key):
                let keyLine = token.line
                let op = try lexer.next()
                let append: Bool
                switch op.kind {
                case .equals: append = false
                case .plusEquals: append = true
                default:
                    throw syntax(fileName, op.line, "expected '=' after '\(key)', got \(op.kind.display)")
                }
                let value = try parseValue(&lexer, key: key, file: fileName)
                token = try lexer.next()
                switch token.kind {
                case .newline, .semicolon, .eof: break
                default:
                    throw syntax(fileName, token.line,
                                 "expected the end of the line after the value of '\(key)', got \(token.kind.display)")
                }
                try store(&settings, key: key, value: value, line: keyLine, append: append, file: fileName)
            default:
                throw syntax(fileName, token.line, "expected a key, got \(token.kind.display)")
            }
        }
    }

    private static func parseValue(_ lexer: inout Lexer, key: String, file: String) throws(XLConfigError) -> XLValue {
        let token = try lexer.next()
        switch token.kind {
        case .string(let s): return .atom(XLAtom(s, quoted: true))
        case .number(let s): return .atom(XLAtom(s, quoted: false))
        case .lbracket:
            var items: [XLAtom] = []
            var t = try lexer.nextSkippingNewlines()
            if case .rbracket = t.kind { return .list(items) }
            while true {
                switch t.kind {
                case .string(let s): items.append(XLAtom(s, quoted: true))
                case .number(let s): items.append(XLAtom(s, quoted: false))
                case .lbracket:
                    throw syntax(file, t.line, "lists cannot be nested (in '\(key)')")
                default:
                    throw syntax(file, t.line, "expected a list item in '\(key)', got \(t.kind.display)")
                }
                t = try lexer.nextSkippingNewlines()
                switch t.kind {
                case .rbracket:
                    return .list(items)
                case .comma:
                    t = try lexer.nextSkippingNewlines()
                    if case .rbracket = t.kind { return .list(items) }
                default:
                    throw syntax(file, t.line, "expected ',' or ']' in the list of '\(key)', got \(t.kind.display)")
                }
            }
        case .ident(let word):
            throw syntax(file, token.line,
                         "expected a value after '\(key) =', got \(word) (strings need quotes: \"\(word)\")")
        default:
            throw syntax(file, token.line, "expected a value after '\(key) =', got \(token.kind.display)")
        }
    }

    private static func store(_ settings: inout [XLSetting], key: String, value: XLValue, line: Int,
                              append: Bool, file: String) throws(XLConfigError) {
        var index: Int? = nil
        for i in settings.indices where settings[i].key == key { index = i }
        guard let i = index else {
            settings.append(XLSetting(key: key, value: value, line: line, appended: append))
            return
        }
        var merged = value
        if append {
            switch (settings[i].value, value) {
            case (.atom(let a), .atom(let b)):
                merged = .atom(XLAtom(a.text + b.text, quoted: a.quoted || b.quoted))
            case (.list(let a), .list(let b)):
                merged = .list(a + b)
            default:
                throw syntax(file, line, "can't add a list to a string or a string to a list ('\(key)')")
            }
        }
        settings[i] = XLSetting(key: key, value: merged, line: line, appended: append)
    }

    static func syntax(_ file: String, _ line: Int, _ message: String) -> XLConfigError {
        XLConfigError(.syntax, file: file, line: line, message: "syntax error: " + message)
    }
}

// MARK: - Lexer

private struct Token {
    enum Kind {
        case ident(String), number(String), string(String)
        case lbracket, rbracket, comma, equals, plusEquals, semicolon, newline, eof

        var display: String {
            switch self {
            case .ident(let s): return "'" + s + "'"
            case .number(let s): return s
            case .string(let s): return "\"" + s + "\""
            case .lbracket: return "'['"
            case .rbracket: return "']'"
            case .comma: return "','"
            case .equals: return "'='"
            case .plusEquals: return "'+='"
            case .semicolon: return "';'"
            case .newline: return "the end of the line"
            case .eof: return "the end of the file"
            }
        }
    }
    var kind: Kind
    var line: Int
}

private struct Lexer {
    let bytes: [UInt8]
    let file: String
    var pos = 0
    var line = 1

    init(bytes: [UInt8], file: String) {
        self.bytes = bytes
        self.file = file
    }

    mutating func nextSkippingNewlines() throws(XLConfigError) -> Token {
        while true {
            let t = try next()
            if case .newline = t.kind { continue }
            return t
        }
    }

    mutating func next() throws(XLConfigError) -> Token {
        // Spaces, tabs, carriage returns and comments.
        while pos < bytes.count {
            let c = bytes[pos]
            if c == 0x20 || c == 0x09 || c == 0x0D {
                pos += 1
            } else if c == 0x23 { // '#': to the end of the line (the newline itself is a token)
                while pos < bytes.count && bytes[pos] != 0x0A { pos += 1 }
            } else {
                break
            }
        }
        guard pos < bytes.count else { return Token(kind: .eof, line: line) }
        let c = bytes[pos]
        let startLine = line
        switch c {
        case 0x0A:
            pos += 1
            line += 1
            return Token(kind: .newline, line: startLine)
        case 0x5B: pos += 1; return Token(kind: .lbracket, line: line)
        case 0x5D: pos += 1; return Token(kind: .rbracket, line: line)
        case 0x2C: pos += 1; return Token(kind: .comma, line: line)
        case 0x3D: pos += 1; return Token(kind: .equals, line: line)
        case 0x3B: pos += 1; return Token(kind: .semicolon, line: line)
        case 0x2B where pos + 1 < bytes.count && bytes[pos + 1] == 0x3D:
            pos += 2
            return Token(kind: .plusEquals, line: line)
        case 0x22, 0x27:
            return Token(kind: .string(try quoted(c)), line: startLine)
        default:
            break
        }
        if XLBytes.isDigit(c) {
            let start = pos
            while pos < bytes.count && XLBytes.isWordByte(bytes[pos]) { pos += 1 }
            return Token(kind: .number(XLBytes.string(bytes[start..<pos])), line: line)
        }
        if XLBytes.isLetter(c) || c == 0x5F {
            let start = pos
            while pos < bytes.count && (XLBytes.isWordByte(bytes[pos]) || bytes[pos] == 0x2E) { pos += 1 }
            return Token(kind: .ident(XLBytes.string(bytes[start..<pos])), line: line)
        }
        var shown: String
        if c >= 0x21 && c < 0x7F {
            shown = "'" + XLBytes.string(bytes[pos..<pos + 1]) + "'"
        } else {
            shown = "byte 0x" + XLBytes.hex2(c)
        }
        var note = ""
        if c == 0x28 || c == 0x29 || c == 0x3A || c == 0x2E || c == 0x2D || c == 0x2B {
            note = " (xl.cfg is not Python: values are \"strings\", numbers or [ lists ])"
        }
        throw XLConfigSyntax.syntax(file, line, "unexpected character " + shown + note)
    }

    /// A quoted string starting at `pos` (the opening quote), with libxlu's escapes.
    private mutating func quoted(_ quote: UInt8) throws(XLConfigError) -> String {
        pos += 1
        var out: [UInt8] = []
        while true {
            guard pos < bytes.count, bytes[pos] != 0x0A else {
                throw XLConfigSyntax.syntax(file, line, "unterminated string")
            }
            let c = bytes[pos]
            pos += 1
            if c == quote { return XLBytes.string(out[...]) }
            if c != 0x5C { out.append(c); continue }
            guard pos < bytes.count, bytes[pos] != 0x0A else {
                throw XLConfigSyntax.syntax(file, line, "unterminated string")
            }
            let e = bytes[pos]
            pos += 1
            switch e {
            case 0x22, 0x27, 0x5C: out.append(e)
            case 0x61: out.append(0x07) // \a
            case 0x62: out.append(0x08) // \b
            case 0x66: out.append(0x0C) // \f
            case 0x6E: out.append(0x0A) // \n
            case 0x72: out.append(0x0D) // \r
            case 0x74: out.append(0x09) // \t
            case 0x76: out.append(0x0B) // \v
            case 0x78: // \xHH: exactly two hex digits
                guard pos + 1 < bytes.count, let h = XLBytes.hexValue(bytes[pos]), let l = XLBytes.hexValue(bytes[pos + 1]) else {
                    throw XLConfigSyntax.syntax(file, line, "\\x in a string needs two hex digits")
                }
                out.append(h << 4 | l)
                pos += 2
            case 0x30...0x37: // \O, \OO, \OOO octal
                var v = Int(e - 0x30)
                var n = 1
                while n < 3, pos < bytes.count, bytes[pos] >= 0x30, bytes[pos] <= 0x37 {
                    v = v * 8 + Int(bytes[pos] - 0x30)
                    pos += 1
                    n += 1
                }
                guard v <= 0xFF else {
                    throw XLConfigSyntax.syntax(file, line, "octal escape in a string is more than \\377")
                }
                out.append(UInt8(v))
            default:
                let shown = e >= 0x21 && e < 0x7F ? XLBytes.string([e][...]) : "0x" + XLBytes.hex2(e)
                throw XLConfigSyntax.syntax(file, line, "unknown escape \\" + shown + " in a string")
            }
        }
    }
}

// MARK: - Byte helpers (shared by the config files, namespaced to keep ApusCore's global scope clean)

enum XLBytes {
    @inline(__always) static func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
    @inline(__always) static func isLetter(_ c: UInt8) -> Bool {
        (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
    }
    @inline(__always) static func isWordByte(_ c: UInt8) -> Bool { isDigit(c) || isLetter(c) || c == 0x5F }

    static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: return c - 0x30
        case 0x41...0x46: return c - 0x41 + 10
        case 0x61...0x66: return c - 0x61 + 10
        default: return nil
        }
    }

    static func hex2(_ c: UInt8) -> String {
        let digits: [UInt8] = Array("0123456789ABCDEF".utf8)
        return string([digits[Int(c >> 4)], digits[Int(c & 15)]][...])
    }

    static func string(_ bytes: ArraySlice<UInt8>) -> String {
        String(decoding: bytes, as: UTF8.self)
    }
}

extension XLConfigSyntax {
    /// Reads an integer the way libxlu does (`strtol(text, &end, 0)` with the whole text consumed):
    /// optional sign, then `0x`/`0X` hexadecimal, a leading `0` for octal, or decimal. Nil if the text
    /// is not such a number or does not fit in an Int.
    public static func integer(_ text: String) -> Int? {
        let b = Array(text.utf8)
        var i = 0
        var negative = false
        if i < b.count && (b[i] == 0x2B || b[i] == 0x2D) {
            negative = b[i] == 0x2D
            i += 1
        }
        var base = 10
        if i + 1 < b.count && b[i] == 0x30 && (b[i + 1] == 0x78 || b[i + 1] == 0x58) {
            base = 16
            i += 2
        } else if i + 1 < b.count && b[i] == 0x30 {
            base = 8
            i += 1
        }
        guard i < b.count else { return nil }
        var value = 0
        while i < b.count {
            guard let d = XLBytes.hexValue(b[i]), Int(d) < base else { return nil }
            let (m, o1) = value.multipliedReportingOverflow(by: base)
            let (s, o2) = negative ? m.subtractingReportingOverflow(Int(d)) : m.addingReportingOverflow(Int(d))
            guard !o1 && !o2 else { return nil }
            value = s
            i += 1
        }
        return value
    }
}
