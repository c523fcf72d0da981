// Package sqlrows holds what the two SQL stores (store/sqlite and
// store/postgres) share below their SQL: scanning rows with
// database/sql, and the encodings of the columns both keep in the same
// form (a transfer's steps and attempts as JSON documents, their times in
// one text layout, unset fields as NULL). The SQL itself stays in each
// store: the dialects differ in placeholders, types and locking.
package sqlrows
