"""The work-order desk (工单台): listing, assigning, moving orders with the resident told, SLA deadlines and escalation."""
