"""The built-in ticket inbox: a Zendesk-like tickets endpoint on the gateway, for the demo.

The embedded default's ticket rule sends each loyalty purchase's ticket to an API destination;
without ``CLIENTEVENTS_TICKETS_URL`` that destination is this inbox, on the gateway's own
listener, so the blueprint's pipeline runs end to end with no account anywhere.
``POST /inbox/api/v2/tickets.json`` answers like Zendesk's ticket API (201, the ticket with its
id); ``GET /inbox/tickets`` lists what arrived, newest first. Tickets are stored durably (table
``inbox_tickets``) before the 201.
"""

from clientevents.inbox.store import InboxTicket, TicketInbox, TicketRejected

__all__ = ["InboxTicket", "TicketInbox", "TicketRejected"]
