// Package numbering holds the pure rules about phone numbers and SIP hosts
// that the transfer policy is built from: the strict E.164 form, number
// types and how they are said, countries (region codes and calling codes),
// emergency numbers, and sets of allowed hosts.
//
// It reads nothing and knows no assistant, call or store: every function
// answers from its arguments and libphonenumber's metadata alone, so the
// rules are tested and fuzzed on their own, and core's policy only decides
// which of them apply.
package numbering
