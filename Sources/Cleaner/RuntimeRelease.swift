import Diagnostics
import Glibc
import Platform

extension BuiltinCleaner {
    /// `<runtime> --root <value> delete --force <id>`: exit 0, or a runtime
    /// that no longer knows the container, is done.
    func deleteRuntimeState(_ root: String, context: CleanContext) -> CleanOutcome {
        guard !context.runtime.isEmpty else { return .blocked("no runtime named for \(root)") }
        let argv = [context.runtime, "--root", root, "delete", "--force", context.id]
        let result: CommandResult
        do {
            result = try Spawn.run(argv, timeoutMs: max(context.runtimeTimeoutMs, 1))
        } catch {
            if error.errno == .noSuchFileOrDirectory { return .blocked("runtime \(context.runtime) not found in PATH") }
            if error.errno == .permissionDenied { return .blocked("runtime \(context.runtime) is not executable") }
            return .retry("cannot run \(context.runtime): \(error)")
        }
        let output = result.output.trimmingTrailingWhitespace()
        if !output.isEmpty { Log.debug("\(argv.joined(separator: " ")): \(output)") }
        if result.timedOut {
            return .retry("\(context.runtime) delete timed out after \(context.runtimeTimeoutMs) ms")
        }
        if result.status == .exited(0) { return .released }
        let lower = output.lowercased()
        if lower.contains("does not exist") || lower.contains("not found") || lower.contains("no such file") {
            return .released
        }
        let status = result.status.map { "\($0.exitCode)" } ?? "unknown"
        return .retry("\(context.runtime) delete exited \(status): \(String(output.suffix(512)))")
    }
}

extension String {
    fileprivate func trimmingTrailingWhitespace() -> String {
        var s = Substring(self)
        while let c = s.last, c.isWhitespace { s = s.dropLast() }
        return String(s)
    }
}
