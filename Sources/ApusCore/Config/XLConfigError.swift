/// An error in an xl.cfg domain configuration file, reported as one line:
///
///     web.cfg:3: memory: expected an integer, got "lots"
///     web.cfg:5: unknown key 'memroy'
///     web.cfg: missing required key 'kernel'
///     web.cfg:2: syntax error: unterminated string
///     web.cfg: memory: 4096 MiB is more than the board's 2048 MiB
public struct XLConfigError: Error, CustomStringConvertible, Equatable {
    public enum Kind: Equatable, Sendable {
        /// The text is not xl.cfg syntax (bad character, missing `=`, unterminated string, ...).
        case syntax
        /// A key xl does not know, or a misspelling.
        case unknownKey
        /// A key xl knows that Apus refuses (device passthrough and the like).
        case unsupportedKey
        /// A required key (`name`, `kernel`) is absent.
        case missingKey
        /// A known key whose value has the wrong type or is out of range.
        case invalidValue
        /// The configuration does not fit the board (memory, CPUs).
        case boardLimit
        /// Several configurations conflict (duplicate names, memory over-commit).
        case conflict
    }

    public var kind: Kind
    /// The configuration file's name as given to the parser (usually its base name).
    public var file: String
    /// 1-based line number, when the error belongs to a line.
    public var line: Int?
    /// The key concerned, if any.
    public var key: String?
    /// The message without the `file:line:` prefix (and without the `key:` part for value errors).
    public var message: String

    public init(_ kind: Kind, file: String, line: Int? = nil, key: String? = nil, message: String) {
        self.kind = kind
        self.file = file
        self.line = line
        self.key = key
        self.message = message
    }

    public var description: String {
        var s = file
        if let line { s += ":\(line)" }
        s += ": "
        switch kind {
        case .syntax, .unknownKey, .missingKey:
            break
        case .unsupportedKey, .invalidValue, .boardLimit, .conflict:
            if let key { s += key + ": " }
        }
        return s + message
    }
}
