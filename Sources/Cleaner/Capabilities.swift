import Diagnostics
import CLibcap
import Glibc

/// A Linux capability number (capability.h); only the ones the library checks.
public struct Capability: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int32
    public let name: String

    public init(rawValue: Int32, name: String) {
        self.rawValue = rawValue
        self.name = name
    }

    public static let dacOverride = Capability(rawValue: 1, name: "CAP_DAC_OVERRIDE")
    public static let dacReadSearch = Capability(rawValue: 2, name: "CAP_DAC_READ_SEARCH")
    public static let fowner = Capability(rawValue: 3, name: "CAP_FOWNER")
    public static let kill = Capability(rawValue: 5, name: "CAP_KILL")
    public static let sysPtrace = Capability(rawValue: 19, name: "CAP_SYS_PTRACE")
    public static let sysAdmin = Capability(rawValue: 21, name: "CAP_SYS_ADMIN")
    public static let sysResource = Capability(rawValue: 24, name: "CAP_SYS_RESOURCE")

    public var description: String { name }
}

/// The effective capability set, read once with libcap and kept as a bit mask
/// so checks are cheap and the value can be shared between threads.
public struct Capabilities: Sendable, Equatable {
    public let effective: UInt64

    public init(effective: UInt64) { self.effective = effective }

    public init(_ caps: [Capability]) {
        self.effective = caps.reduce(0) { $0 | (1 << UInt64($1.rawValue)) }
    }

    public static let all = Capabilities(effective: .max)
    public static let none = Capabilities(effective: 0)

    /// The calling thread's effective set. When libcap cannot read it the
    /// result is `all`: the kernel still refuses what is not allowed, and an
    /// unknown set must not make the cleaner give up on its own.
    public static func readEffective() -> Capabilities {
        guard let caps = cap_get_proc() else {
            Log.warning("cannot read the capability set (errno \(errno)); assuming all capabilities")
            return .all
        }
        defer { cap_free(UnsafeMutableRawPointer(caps)) }
        var mask: UInt64 = 0
        for bit in 0..<64 {
            var value = CAP_CLEAR
            if cap_get_flag(caps, cap_value_t(bit), CAP_EFFECTIVE, &value) == 0, value == CAP_SET {
                mask |= 1 << UInt64(bit)
            }
        }
        return Capabilities(effective: mask)
    }

    public func has(_ cap: Capability) -> Bool {
        cap.rawValue >= 0 && cap.rawValue < 64 && effective & (1 << UInt64(cap.rawValue)) != 0
    }
}
