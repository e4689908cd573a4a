import CShim

/// Embedded Swift has no CommandLine: argv comes from the C side.
func shimMain() -> Int32 {
    // A FIFO with no reader is not fatal; start-up must finish within 120 s.
    cs_ignore_sigpipe()
    alarm(Shim.startupTimeoutSeconds)
    var arguments: [String] = []
    for i in 0..<cs_argc() { arguments.append(String(cString: cs_argv(i)!)) }
    ShimLog.configure(path: getenv("ISULAD_SHIIM_LOG_PATH").map { String(cString: $0) },
                      level: getenv("ISULAD_SHIIM_LOG_LEVEL").map { String(cString: $0) }
                          ?? (arguments.count > 4 ? arguments[4] : nil))
    // Blocked from the start and read from the event loop: SIGTERM, SIGHUP
    // and SIGINT never end the shim (only SIGKILL does).
    let signals = cs_signalfd_open()
    guard signals >= 0 else { return fail("signalfd: \(Errno.current)") }
    do throws(ShimError) {
        return try Shim(arguments: arguments).run(signals: FD(adopting: signals))
    } catch {
        return fail(error.message)
    }
}

exit(shimMain())
