import Diagnostics
import Cleaner
import Glibc
import Platform
import SystemPackage

/// The per-container calls: arm, track, add to GC, state.
extension Engine {
    public func armExitMonitor(fd: Int32, info: PidInfo, id: String, runtime: String) throws(Errno) {
        // A shutdown can stop the supervisor we picked up: then arm on the
        // one started next (at most once more), or report ESHUTDOWN.
        var attempt = 0
        while true {
            var supervisor = self.supervisor
            if supervisor == nil {
                do throws(SystemError) { try startSupervisor() } catch {
                    Log.error("\(id): cannot start the supervisor: \(error)")
                    throw error.errno
                }
                supervisor = self.supervisor
            }
            guard let supervisor else { throw Errno(rawValue: ESHUTDOWN) }
            do throws(Errno) {
                // Armed under the ledger lock: an exit already waiting in the
                // FIFO is handled at once on a worker, whose first step (taking
                // the resources) waits until this run owns the resources
                // tracked before arming and their cgroups are watched.
                let watching = try withLedger { (l: inout ResourceLedger) throws(Errno) -> Bool in
                    try supervisor.arm(fd: fd, id: id, runtime: runtime, info: info, tracked: l.hasPending(id))
                    l.armed(id)
                    return l.cgroups(of: id).reduce(false) { supervisor.oom.watch(id: id, cgroup: $1) || $0 }
                }
                if watching { scheduleOOMCheck(id) }
                // Work will come: the first exit should not wait for threads.
                withState { $0.parts.pool }?.prestart()
                break
            } catch where error.rawValue == ESHUTDOWN && attempt == 0 {
                attempt += 1
            }
        }
        Log.debug("\(id): exit monitor armed (pid \(info.pid), shim \(info.ppid))")
    }

    /// gc_add_container: the entry is durable on return.
    public func addToGC(id: String, runtime: String, info: PidInfo) throws(SystemError) {
        let gc = try ensureGC()
        let resources = withLedger { l -> [TrackedResource] in
            l.forgetExit(id)
            return l.take(id)
        }
        do throws(Errno) {
            try gc.add(id: id, runtime: runtime, info: info, resources: resources)
        } catch {
            Log.error("\(id): cannot add to the GC list: \(error)")
            throw SystemError(error)
        }
    }

    public func isInGC(_ id: String) -> Bool {
        gc?.contains(id) ?? false
    }

    /// supervisor_track_resource: the resource joins the run it belongs to
    /// (ResourceLedger says which), or the GC entry, or is released now.
    public func trackResource(id: String, kind: ResourceKind, value: String) throws(Errno) {
        try TrackedResource.validate(kind: kind, value: value)
        let resource = TrackedResource(kind: kind, value: value)
        let (supervisor, gc) = withState { ($0.parts.supervisor, $0.parts.gc.open) }
        enum Route { case kept(watching: Bool), gc, releaseNow(runtime: String) }
        // An entry can leave the GC list between the look and the append:
        // then its run is over, and the second look says so.
        for _ in 0..<2 {
            let route = try withLedger { (l: inout ResourceLedger) throws(Errno) -> Route in
                // Armed: running, or stopping with its exit not yet handled
                // (the run is marked, so its handler takes the resource).
                let state = supervisor?.claimForTrack(id)
                let armed = state == .running || state == .stopping
                if !armed, let gc {
                    // Never waits: the ledger lock is held.
                    switch gc.placement(of: id) {
                    case .listed: return .gc
                    case let .released(runtime): return .releaseNow(runtime: runtime)
                    case .absent: break
                    }
                }
                if case let .handled(runtime)? = state { return .releaseNow(runtime: runtime) }
                switch try l.track(resource, for: id, armed: armed) {
                case .kept:
                    let watching = armed && kind == .cgroup && supervisor!.oom.watch(id: id, cgroup: value)
                    return .kept(watching: watching)
                case let .releaseNow(runtime):
                    return .releaseNow(runtime: runtime)
                }
            }
            switch route {
            case let .kept(watching):
                if watching { scheduleOOMCheck(id) }
                return
            case .gc:
                if try gc!.appendResource(id: id, resource) { return }
            case let .releaseNow(runtime):
                releaseLate(id: id, runtime: runtime, [resource])
                return
            }
        }
        // Left the list and already forgotten: released like a late resource.
        releaseLate(id: id, runtime: "", [resource])
    }

    /// Resources tracked after their container's exit was handled: released
    /// on a worker now; what fails goes to the GC list under the same id.
    func releaseLate(id: String, runtime: String, _ resources: [TrackedResource]) {
        guard let first = resources.first else { return }
        Log.info(resources.count == 1
                 ? "\(id): \(first.kind.name) \(first.value) tracked after the exit was handled; releasing it now"
                 : "\(id): \(resources.count) resources tracked after the exit was handled; releasing them now")
        let job: WorkerPool.Job = { [unowned self] in
            let outcome = self.releaser(self.currentConfig())
                .run(id: id, runtime: runtime, pid: 0, resources: resources, engineReleased: true)
            guard let failure = outcome.failure else { return }
            do {
                // Joins the id's entry if the engine added one meanwhile; a
                // GC entry needs a runtime name (an unknown one: runc's).
                try self.ensureGC().addLate(id: id, runtime: runtime.isEmpty ? "runc" : runtime,
                                            resources: outcome.resources, lastError: failure)
            } catch {
                Log.error("\(id): cannot add to the GC list: \(error); \(outcome.resources.count) tracked resource(s) may leak")
            }
        }
        if !submit(key: id, job) { job() }
    }

    /// Reads `id`'s OOM counters on a worker (in order with its other hooks).
    func scheduleOOMCheck(_ id: String) {
        submit(key: id) { [unowned self] in self.reportOOM(id) }
    }

    /// Tells the engine when `id`'s OOM-kill count grew.
    func reportOOM(_ id: String, on given: ExitSupervisor? = nil) {
        guard let supervisor = given ?? supervisor, let count = supervisor.oom.check(id) else { return }
        Log.info("\(id): OOM kill in its cgroup (\(count) in all)")
        currentHooks().containerOOM?(id, count)
    }

    public enum ContainerState: Int32 {
        case none = 0, running = 1, stopping = 2, gc = 3
    }

    public func state(of id: String) -> ContainerState {
        let (supervisor, gc) = withState { ($0.parts.supervisor, $0.parts.gc.open) }
        switch supervisor?.state(of: id) {
        case .running?: return .running
        case .stopping?: return .stopping
        case .handled?, nil: break
        }
        return gc?.contains(id) == true ? .gc : .none
    }

    /// The GC entry of `id` left the list durably: tell the engine. A
    /// resource tracked for it from now on is released at once.
    func gcEntryReleased(_ id: String, runtime: String) {
        // Runs on a worker, or on the persister when the pool already stopped.
        Log.info("gc: \(id): all resources released")
        withLedger { $0.rememberRelease(id, runtime: runtime) }
        currentConfig().hooks.gcDone?(id)
    }
}
