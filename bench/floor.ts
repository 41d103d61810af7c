// The start-up floor for a CNI plugin built the way weft is: a single
// executable that only answers `{}`. Benchmarks subtract it from weft's times.
process.stdout.write('{}\n');
