import Testing
@Test func cleanerPlaceholder() { #expect(Bool(true)) }
