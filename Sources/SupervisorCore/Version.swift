import Glibc
import Platform
nonisolated(unsafe) public let versionCString: UnsafePointer<CChar> = {
    let s = "1.0.0"
    return s.withCString { p in UnsafePointer(strdup(p)!) }
}()
