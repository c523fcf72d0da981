// Package storetest is the behavioural test suite every VoiceDock store
// passes: the same cases run against the embedded SQLite store and the
// PostgreSQL one, each against its real database. A store's own tests
// call Run with a Backend that opens it; what only one backend has (its
// file, its migrations' history, its query plans) stays in its package.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"testing"

	"github.com/voicedock/voicedock/core"
)

// Store is everything a VoiceDock store implements for the core.
type Store interface {
	core.Store
	core.CallStore
	core.DeliveryStore
	core.ConversationStore
	core.StatsStore
	core.TaskRecords
	core.NodeStore
	core.TransferCallSaver
}

// DB is the database beneath a store, for the cases that look at or
// change rows directly. Queries are written with $1, $2, ...
// placeholders and in SQL both backends speak.
type DB interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Backend is one store implementation on one new, empty database.
type Backend struct {
	// Open opens a store on the database with the 32-byte secret key.
	// Each Open of one Backend is on the same database, so a case can
	// close a store and open it again, or open two at once. The caller
	// closes the store.
	Open func(t testing.TB, key []byte) (Store, error)
	// DB reaches the database directly.
	DB DB
}

// Run runs every case of the suite, each on a Backend of its own from
// newBackend.
func Run(t *testing.T, newBackend func(t *testing.T) Backend) {
	for _, c := range cases() {
		t.Run(c.name, func(t *testing.T) { c.run(t, newBackend(t)) })
	}
}

type testCase struct {
	name string
	run  func(t *testing.T, b Backend)
}

func cases() []testCase {
	return []testCase{
		{"AssistantCRUD", testAssistantCRUD},
		{"AssistantNotFound", testAssistantNotFound},
		{"AssistantDuplicateID", testAssistantDuplicateID},
		{"ListAssistantsPaging", testListAssistantsPaging},
		{"DeleteAssistantInUse", testDeleteAssistantInUse},
		{"TransferAttemptsRoundTrip", testTransferAttemptsRoundTrip},
		{"CallRoundTrip", testCallRoundTrip},
		{"CallTimestampsAreUTCMilliseconds", testCallTimestampsAreUTCMilliseconds},
		{"CallDuplicate", testCallDuplicate},
		{"CallNotFound", testCallNotFound},
		{"UpdateCallLeavesTransfersAlone", testUpdateCallLeavesTransfersAlone},
		{"SaveTransfer", testSaveTransfer},
		{"SaveTransferUnknownCall", testSaveTransferUnknownCall},
		{"SaveTransferAndCallAllOrNothing", testSaveTransferAndCallAllOrNothing},
		{"TransfersOldestFirst", testTransfersOldestFirst},
		{"ListCalls", testListCalls},
		{"ListCallsManyTransfers", testListCallsManyTransfers},
		{"EndLiveCalls", testEndLiveCalls},
		{"EndLiveCallsOnEmptyStore", testEndLiveCallsOnEmptyStore},
		{"CallsSurviveReopen", testCallsSurviveReopen},
		{"DeletingACallDeletesItsTransfers", testDeletingACallDeletesItsTransfers},
		{"ConcurrentCalls", testConcurrentCalls},
		{"TransferConfirmedBy", testTransferConfirmedBy},
		{"ConversationRoundTrip", testConversationRoundTrip},
		{"DeliveriesAreWrittenWithTheChange", testDeliveriesAreWrittenWithTheChange},
		{"DeliveriesAreNotWrittenWhenTheChangeFails", testDeliveriesAreNotWrittenWhenTheChangeFails},
		{"DueDeliveriesKeepEachCallInOrder", testDueDeliveriesKeepEachCallInOrder},
		{"NextDueAt", testNextDueAt},
		{"UpdateDelivery", testUpdateDelivery},
		{"UpdateDeliveries", testUpdateDeliveries},
		{"ListDeliveries", testListDeliveries},
		{"DeliveriesSurviveReopen", testDeliveriesSurviveReopen},
		{"DeliveriesOutliveTheirCall", testDeliveriesOutliveTheirCall},
		{"ClaimDeliveries", testClaimDeliveries},
		{"RecordAndClaim", testRecordAndClaim},
		{"PhoneNumberCRUD", testPhoneNumberCRUD},
		{"PhoneNumberNotFound", testPhoneNumberNotFound},
		{"PhoneNumberDuplicate", testPhoneNumberDuplicate},
		{"PhoneNumberMissingReferences", testPhoneNumberMissingReferences},
		{"ListPhoneNumbersPaging", testListPhoneNumbersPaging},
		{"RestartKeepsEverything", testRestartKeepsEverything},
		{"SecretsAreNotStoredInTheClear", testSecretsAreNotStoredInTheClear},
		{"WrongKeyFailsOnReadingTheSecret", testWrongKeyFailsOnReadingTheSecret},
		{"CiphertextMovedToAnotherRowFails", testCiphertextMovedToAnotherRowFails},
		{"TimestampsAreUTCMilliseconds", testTimestampsAreUTCMilliseconds},
		{"ConcurrentReadsAndWrites", testConcurrentReadsAndWrites},
		{"TransferStats", func(t *testing.T, be Backend) { TransferStats(t, be.open(t)) }},
		{"TaskRecordRoundTrip", testTaskRecordRoundTrip},
		{"TrunkCRUD", testTrunkCRUD},
		{"TrunkNotFound", testTrunkNotFound},
		{"ListTrunksPaging", testListTrunksPaging},
		{"DeleteTrunkInUse", testDeleteTrunkInUse},
		{"NodeLeases", testNodeLeases},
		{"TakeCallOnce", testTakeCallOnce},
	}
}

// open opens a store with a new key, closed when the test ends.
func (b Backend) open(t testing.TB) Store {
	t.Helper()
	return b.openWith(t, NewKey(t))
}

// openWith opens a store with key, closed when the test ends.
func (b Backend) openWith(t testing.TB, key []byte) Store {
	t.Helper()
	s, err := b.Open(t, key)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// NewKey returns a random 32-byte key.
func NewKey(t testing.TB) []byte {
	t.Helper()
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	return key
}
