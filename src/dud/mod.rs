//! (filled in by the dud work)
