"""Flows as tools of agent frameworks.

Each module gives ``flow_tool(executor, flow_or_name, *, name=None, description=None)``,
which returns the framework's own tool object: named after the flow, described by its
description, taking the flow's input JSON Schema, and running the flow on ``executor``
(journaled in its checkpointer, if it has one) when the framework calls it.

* :mod:`dagwright.integrations.pydantic_ai` (extra ``pydantic-ai``): a ``pydantic_ai.Tool``.
* :mod:`dagwright.integrations.langchain` (extra ``langchain``): a LangChain
  ``StructuredTool``.
* :mod:`dagwright.integrations.openai_agents` (extra ``openai-agents``): an OpenAI Agents
  SDK ``FunctionTool``.

Importing one without its extra raises ``IntegrationUnavailableError`` (DW-E021). This
package imports no framework itself.
"""
