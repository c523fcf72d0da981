// Package audiodir serves pre-recorded announcements (message_audio_url
// paths) from the one folder the operator configured
// (VOICEDOCK_AUDIO_DIR), and nothing else on the machine.
//
// A path from a tool is untrusted: it is resolved inside an [os.Root], so
// `..`, absolute symlinks and symlinks leading out of the folder are
// refused by the kernel-backed resolver, and only regular files are read
// (a FIFO or a device would block or never end). Every refusal reads the
// same, [ErrNotReadable], so that a client learns nothing about which
// files exist or what their permissions are.
package audiodir
