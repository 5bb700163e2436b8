"""The running exchange: config, clock, sequencer, journal, snapshots, recovery, pipeline."""
