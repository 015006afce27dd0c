//! How the stream targets read their input: up to 8 control bytes (the first a flag, the
//! rest cut positions), then the stream, fed to a translator in the pieces the cuts give.

/// The flag, the sorted cut positions and the stream.
pub fn split_input(input: &[u8]) -> (bool, Vec<usize>, &[u8]) {
    let (control, data) = input.split_at(input.len().min(8));
    let flag = control.first().is_some_and(|b| b & 1 == 1);
    let mut cuts: Vec<usize> = control
        .iter()
        .skip(1)
        .map(|b| *b as usize * data.len().max(1) / 256)
        .collect();
    cuts.sort_unstable();
    (flag, cuts, data)
}

/// Calls `feed` with `data` cut at `cuts`, in order.
pub fn feed_in_pieces(data: &[u8], cuts: &[usize], mut feed: impl FnMut(&[u8])) {
    let mut start = 0;
    for &cut in cuts {
        let end = cut.min(data.len()).max(start);
        feed(&data[start..end]);
        start = end;
    }
    feed(&data[start..]);
}
