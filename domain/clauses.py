"""The clause of each policy text behind each rule id, quoted verbatim (the texts are
`shared/policies/`), for explaining decisions from the log alone.

Where a text is silent and the engine takes a careful reading of its own (README, "Decisions
this engine takes where the texts are silent"), the entry says so in `reading` and quotes
the clause the reading rests on, if any. A rule with no entry for a policy never decides
under it.
"""

from __future__ import annotations

from dataclasses import dataclass

from .policies import (
    ACCIDENTAL,
    ACCOUNT_BLOCKED,
    ACCOUNT_CLOSED,
    ALREADY_REFUNDED,
    AMOUNT_CAPPED,
    BALANCE_CAP,
    CRYPTO_FINAL,
    DEPOSIT_AFTER_CLOSURE,
    DETAILS_MISSING,
    EU_WAIVER,
    METHOD_NOT_REFUNDABLE,
    ORDER_CANCEL_ERROR,
    ORDER_CANCEL_LOCK,
    ORDER_CODE_DELIVERED,
    ORDER_CODE_DISPLAYED,
    ORDER_COMPLAINT_WINDOW,
    ORDER_INCOMPLETE_SMS,
    ORDER_NUMBER_ALREADY_USED,
    ORDER_SMS_NOT_RECEIVED,
    ORDER_SMS_RECEIVED,
    ORDER_WRONG_CODE,
    REQUEST_EXTENDED,
    SPENT_AFTER,
    THIRD_PARTY,
    WINDOW_EXPIRED,
)

SMS_SERVICE, ONE_THOUSAND_ONE = "sms-service", "1001sms"

# The file of each policy text in shared/policies/.
SOURCES = {
    SMS_SERVICE: "sms-service-return-policy.txt",
    ONE_THOUSAND_ONE: "1001sms-payment-refund-policy.txt",
}


@dataclass(frozen=True)
class Clause:
    quotes: tuple[str, ...]  # verbatim from the policy text
    reading: str = ""  # the engine's own reading, where the text is silent


TOP_UP_HISTORY = ('"SMS SERVICE" determines the refund amount based on the Customer\'s'
                  " top-up history.")

CLAUSES: dict[str, dict[str, Clause]] = {
    WINDOW_EXPIRED: {
        SMS_SERVICE: Clause((
            "the Customer's account balance was topped up by any means within a period"
            " exceeding 1 (one) calendar week prior to contacting SMS SERVICE support, no"
            " refund will be made;",)),
        ONE_THOUSAND_ONE: Clause((
            "The refund request is made within 7 days of the deposit.",
            "Card Refunds: Available only within 7 days of deposit if NO transactions have"
            " been made.")),
    },
    SPENT_AFTER: {
        SMS_SERVICE: Clause((
            "if the Customer has successfully purchased and activated at least one number"
            " after the top-up, the funds remaining on the Customer's balance cannot be"
            " refunded;",
            "only the top-up that was not used by the Customer to purchase goods and/or"
            " services of SMS SERVICE shall be refunded.")),
        ONE_THOUSAND_ONE: Clause((
            "If you have made ANY transaction (purchased a number, etc.) after the deposit,"
            " the entire deposit becomes non-refundable.",)),
    },
    CRYPTO_FINAL: {
        ONE_THOUSAND_ONE: Clause((
            "Cryptocurrency: All cryptocurrency deposits are FINAL and NON-REFUNDABLE due to"
            " the irreversible nature of blockchain transactions.",)),
    },
    METHOD_NOT_REFUNDABLE: {
        ONE_THOUSAND_ONE: Clause((
            "Card Payments: We offer refunds for credit/debit card deposits under specific"
            " conditions:",),
            reading="only card deposits are refundable: the text offers refunds for card"
                    " deposits and declares crypto final; other methods are not offered one"),
    },
    ALREADY_REFUNDED: {
        SMS_SERVICE: Clause((TOP_UP_HISTORY,),
                            reading="a deposit refunded in full has nothing left to refund"),
        ONE_THOUSAND_ONE: Clause(("Refunds are processed to the original payment method.",),
                                 reading="a deposit refunded in full has nothing left to"
                                         " refund"),
    },
    ACCIDENTAL: {
        SMS_SERVICE: Clause(("the customer topped up the balance accidentally;",)),
    },
    THIRD_PARTY: {
        SMS_SERVICE: Clause((
            "requests that are based on the incompatibility of our products with third-party"
            " software, if it is not indicated as compatible on the web page of a particular"
            " product;",)),
        ONE_THOUSAND_ONE: Clause(("Third-party service issues or platform restrictions",)),
    },
    DETAILS_MISSING: {
        SMS_SERVICE: Clause((
            "the customer does not provide the payment information requested from him/her by"
            " SMS SERVICE within 14 (fourteen) calendar days;",)),
    },
    AMOUNT_CAPPED: {
        SMS_SERVICE: Clause((TOP_UP_HISTORY,),
                            reading="a request naming more than is refundable gets what is"
                                    " refundable"),
        ONE_THOUSAND_ONE: Clause(("We reserve the right to deny refund requests that do not"
                                  " meet our criteria.",),
                                 reading="a request naming more than is refundable gets what"
                                         " is refundable"),
    },
    BALANCE_CAP: {
        SMS_SERVICE: Clause((TOP_UP_HISTORY,),
                            reading="the refundable amount is capped by the available balance:"
                                    " money held or spent cannot go back"),
        ONE_THOUSAND_ONE: Clause(("You have NOT spent any funds from the deposit (no"
                                  " transactions made).",),
                                 reading="the refundable amount is capped by the available"
                                         " balance: money held or spent cannot go back"),
    },
    ACCOUNT_BLOCKED: {
        SMS_SERVICE: Clause((
            "In case the Customer's personal account is blocked for violation of the rules of"
            " using the Service, no refund will be made.",
            "the Customer used our products for purposes contrary to local legislation; the"
            " product was used for fraud; we received a complaint from the local number"
            " provider or law enforcement authorities;")),
        ONE_THOUSAND_ONE: Clause((
            "Abuse of the refund policy may result in account suspension or termination.",)),
    },
    ACCOUNT_CLOSED: {
        SMS_SERVICE: Clause((
            "The balance does not burn, disappear and is not blocked, except for cases when the"
            " user's account was deleted at the request of the customer, or the account was"
            " blocked at the request of law enforcement authorities.",),
            reading="a deleted account's balance is forfeited, so nothing is left to refund"),
        ONE_THOUSAND_ONE: Clause((
            "Abuse of the refund policy may result in account suspension or termination.",),
            reading="a terminated (closed) account is refunded nothing, as a suspended one"),
    },
    EU_WAIVER: {
        ONE_THOUSAND_ONE: Clause((
            "By adding funds to your account or purchasing a number, you expressly consent to"
            " the immediate performance of the contract and acknowledge that you thereby lose"
            " your right of withdrawal from the contract.",)),
    },
    ORDER_WRONG_CODE: {
        SMS_SERVICE: Clause(("wrong SMS code was received;",)),
    },
    ORDER_INCOMPLETE_SMS: {
        SMS_SERVICE: Clause(("SMS text was incomplete;",)),
    },
    ORDER_SMS_RECEIVED: {
        ONE_THOUSAND_ONE: Clause((
            "Refunds are ONLY available through your dashboard when an SMS message is not"
            " received.",
            "Successfully received SMS messages")),
    },
    ORDER_CODE_DISPLAYED: {
        SMS_SERVICE: Clause((
            "the registration code is displayed in the table of the disposable number order."
            " In this case, the Company's obligations to provide the disposable number service"
            " shall be deemed fulfilled.",),
            reading="an incomplete text that still carried the code is no refund"),
    },
    ORDER_NUMBER_ALREADY_USED: {
        SMS_SERVICE: Clause(("a phone number was given out;",),
                            reading="cancels and releases the order from any open state"),
    },
    ORDER_CODE_DELIVERED: {
        SMS_SERVICE: Clause((
            "after a correct SMS message has been sent to the virtual number. The customer"
            " agrees to this when purchasing any product or service from the official SMS"
            " SERVICE website;",),
            reading="an order whose code arrived is completed and captured when its account"
                    " is blocked or closed"),
        ONE_THOUSAND_ONE: Clause(("Successfully received SMS messages",),
                                 reading="an order whose SMS arrived is completed and captured"
                                         " when its account is blocked or closed"),
    },
    ORDER_SMS_NOT_RECEIVED: {
        ONE_THOUSAND_ONE: Clause((
            "Refunds are ONLY available through your dashboard when an SMS message is not"
            " received.",),
            reading="a failed cancel is an ordinary release while no SMS has arrived"),
    },
    ORDER_CANCEL_ERROR: {
        SMS_SERVICE: Clause((
            'various errors when trying to cancel the number via the "cancel" button;',)),
    },
    ORDER_CANCEL_LOCK: {
        SMS_SERVICE: Clause((
            "the money for the number will be returned to the balance of the personal cabinet"
            ' automatically or after pressing the "Cancel" button;',),
            reading="a cancel before the early-cancel lock has passed is refused (the lock is"
                    " a setting, 0 s by default, recorded on each order)"),
        ONE_THOUSAND_ONE: Clause((
            "If you request a phone number and do not receive the expected SMS within the"
            " allocated time frame, you may request a refund directly from your dashboard.",),
            reading="a cancel before the early-cancel lock has passed is refused"),
    },
    ORDER_COMPLAINT_WINDOW: {
        SMS_SERVICE: Clause(("wrong SMS code was received;", "SMS text was incomplete;"),
                            reading="a complaint is heard up to 24 hours after the order"
                                    " completed; later ones are refused"),
    },
    DEPOSIT_AFTER_CLOSURE: {
        SMS_SERVICE: Clause(("account deletion;",),
                            reading="a deposit reaching a deleted account goes back to its"
                                    " payment method"),
        ONE_THOUSAND_ONE: Clause(("Abuse of the refund policy may result in account suspension"
                                  " or termination.",),
                                 reading="a deposit reaching a terminated account goes back to"
                                         " its payment method: money received is never kept"
                                         " on a closed balance"),
    },
    REQUEST_EXTENDED: {
        SMS_SERVICE: Clause((
            "At the same time, the refund period may be extended for reasons beyond SMS"
            " SERVICE's control.",)),
    },
}


def clause_for(rule: str, policy: str) -> Clause | None:
    """The clause of `policy` (a name, or `name@version`) behind `rule`, if it has one."""
    return CLAUSES.get(rule, {}).get(policy.partition("@")[0])
