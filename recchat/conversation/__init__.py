"""The conversation: reading a chat message, keeping the session's state, and explaining the picks.

A message flows through the modules in this order:

1. :mod:`~recchat.conversation.chat` (``ChatSession.send``) cuts and masks it, then reads it:
   :mod:`~recchat.conversation.understand` by rules (titles linked by :mod:`~recchat.conversation.link`
   over :mod:`~recchat.conversation.link_index` and the aliases of :mod:`~recchat.conversation.aliases`,
   with :mod:`~recchat.conversation.link_message` and :mod:`~recchat.conversation.link_rules`;
   clauses and negation in :mod:`~recchat.conversation.clauses`; facet values, years and ranges in
   :mod:`~recchat.conversation.constraints`; named items, series and list positions in
   :mod:`~recchat.conversation.references`), merged with the LLM's reading
   (:mod:`~recchat.conversation.llm_extraction`) where it is on.
2. :mod:`~recchat.conversation.session_state` folds what it says into the session's state and
   turns the constraints into the recommender's filter (the recommender as the conversation sees
   it: :mod:`~recchat.conversation.protocols`).
3. The ranking is explained: per card the facts of :mod:`~recchat.conversation.card_facts`, written
   by :mod:`~recchat.conversation.template_reasons` at once and by
   :mod:`~recchat.conversation.llm_reasons` after, each LLM reason checked by
   :mod:`~recchat.conversation.reason_check`.
4. :mod:`~recchat.conversation.reply` writes the reply's message and items.

Around them: the catalog's :mod:`~recchat.conversation.domain` (facets, years, ranges, series),
users' taste profiles (:mod:`~recchat.conversation.profile`), saved sessions (:mod:`~recchat.conversation.sessions`),
and simulated users (:mod:`~recchat.conversation.simulate`). This file imports nothing.
"""
