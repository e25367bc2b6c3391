"""After an order is submitted: released to the warehouse, shipped (the warehouse's
confirmations, with carrier and tracking number), invoiced and completed. models holds
carriers, warehouse shipments and invoices; services the status moves; invoicing how a
shipment's invoice is priced. docs/fulfilment.md is the reference."""
