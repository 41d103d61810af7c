/** A problem with how the suite was invoked (flags, conf, binaries); the message says how to fix it. */
export class SetupError extends Error {}
