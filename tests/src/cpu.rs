//! Pinning processes to CPUs for benchmarks (`taskset` from util-linux).

/// Pins every thread of process `pid` to CPU `cpu`; the threads and processes it starts
/// afterwards inherit the pin. The error says what failed (no `taskset`, no such CPU, ...).
pub fn pin_to_cpu(pid: u32, cpu: usize) -> Result<(), String> {
    let out = std::process::Command::new("taskset")
        .args(["-a", "-p", "-c", &cpu.to_string(), &pid.to_string()])
        .output()
        .map_err(|e| format!("taskset (util-linux) did not run: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "taskset could not pin process {pid} to CPU {cpu}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}
