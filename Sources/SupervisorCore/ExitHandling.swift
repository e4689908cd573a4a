import Diagnostics
import Cleaner
import Glibc
import Platform

extension Engine {
    /// iSulad's flow for one exit, on a worker: process gone → release its
    /// resources; alive → SIGKILL and re-check `kill_retries` times; anything
    /// left goes to the GC list (durably). Then `container_stopped`, exactly
    /// once, after the state already says NONE or GC.
    func handleExit(_ exit: ExitSupervisor.Exit) {
        let (options, hooks) = currentConfig()
        let id = exit.id, runtime = exit.runtime, info = exit.info, code = exit.code
        Log.debug("\(id): exit status \(code) read")

        var engineReleased = false
        var failure: String?
        if hooks.liveness(id: id, runtime: runtime, pid: info.pid, startTime: info.startTime) != .gone {
            failure = killAndConfirm(id: id, runtime: runtime, info: info, hooks: hooks, options: options)
        }
        let supervisor = self.supervisor
        var inGC = false
        // Resources tracked while this runs join it: taken again until none
        // is left, then the exit is recorded as handled under the same lock.
        while true {
            let resources = takeTracked(id)
            // The OOM counter once more before the cleaner removes the cgroup:
            // an OOM kill that ended the container is reported before its stop
            // (watched here too, should a cgroup have escaped its watch).
            for r in resources where r.kind == .cgroup { supervisor?.oom.watch(id: id, cgroup: r.value) }
            reportOOM(id, on: supervisor)
            if inGC {
                for r in resources {
                    do {
                        if try !ensureGC().appendResource(id: id, r) {
                            try ensureGC().add(id: id, runtime: runtime, info: info, resources: [r], lastError: "tracked during exit handling")
                        }
                    } catch {
                        Log.error("\(id): cannot add \(r.kind.name) \(r.value) to the GC list: \(error); it may leak")
                    }
                }
            } else {
                var outcome = ResourceRelease.Outcome(resources: resources, engineReleased: false, failure: failure)
                if failure == nil {
                    outcome = releaser(hooks: hooks, options: options)
                        .run(id: id, runtime: runtime, pid: info.pid, resources: resources, engineReleased: engineReleased)
                }
                engineReleased = outcome.engineReleased
                if let reason = outcome.failure {
                    Log.warning("\(id): cleanup after exit failed: \(reason); handed to GC")
                    do {
                        try ensureGC().add(id: id, runtime: runtime, info: info, resources: outcome.resources,
                                           engineReleased: outcome.engineReleased, lastError: reason)
                    } catch {
                        Log.error("\(id): cannot add to the GC list: \(error); its resources may leak")
                    }
                    inGC = true
                }
            }
            // The exit is recorded as handled under the ledger lock: from
            // then on a resource tracked for the id is not this run's (the
            // monitor, still STOPPING until `finish`, no longer counts).
            let done = withLedger { l -> Bool in
                if l.hasPending(id) { return false }
                l.exitHandled(id, runtime: runtime)
                return true
            }
            if done { break }
        }
        supervisor?.oom.unwatch(id)
        supervisor?.finish(id)
        hooks.containerStopped?(id, info.pid, code)
    }

    /// SIGKILL, then up to `kill_retries` re-checks `kill_retry_interval_ms`
    /// apart. The pause ends early when the process exits (pidfd), unless an
    /// engine hook decides liveness, which only the hook can tell.
    private func killAndConfirm(id: String, runtime: String, info: PidInfo, hooks: Hooks, options: Options) -> String? {
        Log.info("\(id): process \(info.pid) still alive after its exit was reported; killing it")
        if !hooks.kill(id: id, runtime: runtime, pid: info.pid, startTime: info.startTime, signal: SIGKILL) {
            Log.warning("\(id): SIGKILL of \(info.pid) failed")
        }
        for _ in 0..<options.killRetries {
            if hooks.processAlive != nil {
                sleepMs(options.killRetryIntervalMs)
            } else {
                ProcessProbe.waitForExit(pid: info.pid, startTime: info.startTime, timeoutMs: options.killRetryIntervalMs)
            }
            if hooks.liveness(id: id, runtime: runtime, pid: info.pid, startTime: info.startTime) == .gone { return nil }
        }
        return "process \(info.pid) still alive after SIGKILL and \(options.killRetries) checks"
    }
}
