import Testing
@testable import ApusCore
@Test func versionIsXen417() { #expect(ApusVersion.xenMinor == 17) }
