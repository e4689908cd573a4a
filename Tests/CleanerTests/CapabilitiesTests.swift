import Cleaner
import Testing

@Suite struct CapabilitiesTests {
    @Test func readsEffectiveCapabilities() {
        let caps = Capabilities.readEffective()
        #expect(caps.has(.sysAdmin))  // the tests run as root
        #expect(caps.has(.kill))
        #expect(!Capabilities.none.has(.sysAdmin))
        #expect(Capabilities([.kill]).has(.kill) && !Capabilities([.kill]).has(.sysAdmin))
    }
}
