import Glibc
import Platform
import SystemPackage

// A FIFO with no reader is not fatal; start-up must finish within 120 s.
signal(SIGPIPE, SIG_IGN)
alarm(Shim.startupTimeoutSeconds)
let arguments = CommandLine.arguments
ShimLog.configure(path: getenv("ISULAD_SHIIM_LOG_PATH").map { String(cString: $0) },
                  level: getenv("ISULAD_SHIIM_LOG_LEVEL").map { String(cString: $0) }
                      ?? (arguments.count > 4 ? arguments[4] : nil))
let code: Int32
do throws(ShimError) {
    code = try Shim(arguments: arguments).run()
} catch {
    code = fail(error.message)
}
exit(code)
