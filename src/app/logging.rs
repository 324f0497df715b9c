//! Logs go to stderr as `time level message`, where messages are logfmt (`event=... key=value`).

use simplelog::{ColorChoice, ConfigBuilder, TermLogger, TerminalMode};

/// Installs the process logger once; later calls are ignored.
pub fn init_logging(level: log::LevelFilter) {
    let config = ConfigBuilder::new()
        .set_time_format_rfc3339()
        .set_target_level(log::LevelFilter::Off)
        .set_thread_level(log::LevelFilter::Off)
        .set_location_level(log::LevelFilter::Off)
        .build();
    let _ = TermLogger::init(level, config, TerminalMode::Stderr, ColorChoice::Never);
}
