import Glibc
import SystemPackage

/// Calls `body` (a syscall returning -1 with errno on failure) again while it
/// fails with EINTR. The one EINTR loop of the library: every blocking call
/// goes through here.
@inlinable
public func retryingEINTR<T: FixedWidthInteger>(_ body: () -> T) -> T {
    while true {
        let r = body()
        if r != -1 || Glibc.errno != Errno.interrupted.rawValue { return r }
    }
}
