import Testing
@testable import ApusCore

private func settings(_ text: String) throws -> [XLSetting] {
    try XLConfigSyntax.parse(text: text, fileName: "t.cfg")
}

private func syntaxError(_ text: String) -> String? {
    do {
        _ = try XLConfigSyntax.parse(text: text, fileName: "t.cfg")
        return nil
    } catch {
        #expect(error.kind == .syntax)
        return error.description
    }
}

private func atom(_ s: String, quoted: Bool = true) -> XLValue { .atom(XLAtom(s, quoted: quoted)) }

@Suite struct XLConfigSyntaxTests {
    @Test func allValueKindsCommentsAndBlankLines() throws {
        let text = """
            # a domain
            name = "web"   # trailing comment

            memory = 0x100
            vcpus=2;
            kernel = '/boot/Image'
            extra = "console=hvc0 \\"quoted\\" tab\\there \\x41\\101"
            empty = ""
            """
        let s = try settings(text)
        #expect(s.map(\.key) == ["name", "memory", "vcpus", "kernel", "extra", "empty"])
        #expect(s[0] == XLSetting(key: "name", value: atom("web"), line: 2, appended: false))
        #expect(s[1].value == atom("0x100", quoted: false))
        #expect(s[1].line == 4)
        #expect(s[2].value == atom("2", quoted: false))
        #expect(s[3].value == atom("/boot/Image"))
        #expect(s[4].value == atom("console=hvc0 \"quoted\" tab\there AA"))
        #expect(s[5].value == atom(""))
    }

    @Test func listsOverSeveralLines() throws {
        let text = """
            a = [ "x", 'y', 3 ]
            b = [
                "one",   # first
                "two",

                "three",
            ]
            c = []
            d = [
            ]
            e = ["solo"]
            after = 1
            """
        let s = try settings(text)
        #expect(s[0].value == .list([XLAtom("x", quoted: true), XLAtom("y", quoted: true), XLAtom("3", quoted: false)]))
        #expect(s[1].value == .list([XLAtom("one", quoted: true), XLAtom("two", quoted: true), XLAtom("three", quoted: true)]))
        #expect(s[1].line == 2)
        #expect(s[2].value == .list([]))
        #expect(s[3].value == .list([]))
        #expect(s[4].value == .list([XLAtom("solo", quoted: true)]))
        #expect(s[5].line == 12)
    }

    @Test func semicolonsAndMissingFinalNewlineAndCRLF() throws {
        let s = try settings("a = 1; b = \"x\";\r\nc = 3")
        #expect(s.map(\.key) == ["a", "b", "c"])
        #expect(s[1].value == atom("x"))
        #expect(s[2].line == 2)
    }

    @Test func laterAssignmentWinsAndPlusEqualsAppends() throws {
        let s = try settings("""
            a = "one"
            b = ["x"]
            a = "two"
            b += ["y", "z"]
            c += "new"
            a += "!"
            """)
        #expect(s.map(\.key) == ["a", "b", "c"])
        #expect(s[0] == XLSetting(key: "a", value: atom("two!"), line: 6, appended: true))
        #expect(s[1].value == .list([XLAtom("x", quoted: true), XLAtom("y", quoted: true), XLAtom("z", quoted: true)]))
        #expect(s[2].value == atom("new"))
    }

    @Test func integers() {
        #expect(XLConfigSyntax.integer("128") == 128)
        #expect(XLConfigSyntax.integer("0x1F") == 31)
        #expect(XLConfigSyntax.integer("0X10") == 16)
        #expect(XLConfigSyntax.integer("010") == 8) // strtol base 0, like xl
        #expect(XLConfigSyntax.integer("0") == 0)
        #expect(XLConfigSyntax.integer("-5") == -5)
        #expect(XLConfigSyntax.integer("+7") == 7)
        #expect(XLConfigSyntax.integer("09") == nil)
        #expect(XLConfigSyntax.integer("0x") == nil)
        #expect(XLConfigSyntax.integer("") == nil)
        #expect(XLConfigSyntax.integer("12a") == nil)
        #expect(XLConfigSyntax.integer(" 1") == nil)
        #expect(XLConfigSyntax.integer("9223372036854775807") == Int.max)
        #expect(XLConfigSyntax.integer("9223372036854775808") == nil)
        #expect(XLConfigSyntax.integer("-9223372036854775808") == Int.min)
    }

    @Test func syntaxErrors() {
        #expect(syntaxError("name = \"web\nmemory = 1") == "t.cfg:1: syntax error: unterminated string")
        #expect(syntaxError("\n\nname = 'web") == "t.cfg:3: syntax error: unterminated string")
        #expect(syntaxError("memory 128") == "t.cfg:1: syntax error: expected '=' after 'memory', got 128")
        #expect(syntaxError("memory\n") == "t.cfg:1: syntax error: expected '=' after 'memory', got the end of the line")
        #expect(syntaxError("memory =\n") == "t.cfg:1: syntax error: expected a value after 'memory =', got the end of the line")
        #expect(syntaxError("type = pvh") ==
            "t.cfg:1: syntax error: expected a value after 'type =', got pvh (strings need quotes: \"pvh\")")
        #expect(syntaxError("a = 1 2") ==
            "t.cfg:1: syntax error: expected the end of the line after the value of 'a', got 2")
        #expect(syntaxError("= 1") == "t.cfg:1: syntax error: expected a key, got '='")
        #expect(syntaxError("\"x\" = 1") == "t.cfg:1: syntax error: expected a key, got \"x\"")
        #expect(syntaxError("a = 1\nb = \"x\" + \"y\"") ==
            "t.cfg:2: syntax error: unexpected character '+' (xl.cfg is not Python: values are \"strings\", numbers or [ lists ])")
        #expect(syntaxError("memory = 2 * 64") == "t.cfg:1: syntax error: unexpected character '*'")
        #expect(syntaxError("a = [\"x\"\n \"y\"]") ==
            "t.cfg:2: syntax error: expected ',' or ']' in the list of 'a', got \"y\"")
        #expect(syntaxError("a = [\n\"x\",\n") ==
            "t.cfg:3: syntax error: expected a list item in 'a', got the end of the file")
        #expect(syntaxError("a = [[\"x\"]]") == "t.cfg:1: syntax error: lists cannot be nested (in 'a')")
        #expect(syntaxError("a = [,]") == "t.cfg:1: syntax error: expected a list item in 'a', got ','")
        #expect(syntaxError("a = \"\\q\"") == "t.cfg:1: syntax error: unknown escape \\q in a string")
        #expect(syntaxError("a = \"\\x4\"") == "t.cfg:1: syntax error: \\x in a string needs two hex digits")
        #expect(syntaxError("a = \"\\777\"") == "t.cfg:1: syntax error: octal escape in a string is more than \\377")
        #expect(syntaxError("a = \"x\"\nb = [\"y\"]\nb += \"z\"") ==
            "t.cfg:3: syntax error: can't add a list to a string or a string to a list ('b')")
        #expect(syntaxError("a = \u{00E9}") == "t.cfg:1: syntax error: unexpected character byte 0xC3")
    }
}
